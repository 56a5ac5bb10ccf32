/**
 * Development-only: the XState inspector. Imported solely behind `import.meta.env.DEV`,
 * so the production build drops it (checked by tests/bundle.test.ts).
 */
export async function startInspector(): Promise<void> {
  const { inspect } = await import('@xstate/inspect');
  inspect({ iframe: false, url: 'https://stately.ai/viz?inspect' });
}
