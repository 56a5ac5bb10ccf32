import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './App';
import { runtimeConfig } from './config';
import './styles.css';

async function boot(): Promise<void> {
  if (import.meta.env.DEV && new URLSearchParams(window.location.search).has('inspect')) {
    const { startInspector } = await import('./devtools');
    await startInspector();
  }
  const root = document.getElementById('root');
  if (!root) throw new Error('missing #root');
  createRoot(root).render(
    <StrictMode>
      <App config={runtimeConfig()} />
    </StrictMode>,
  );
}

void boot();
