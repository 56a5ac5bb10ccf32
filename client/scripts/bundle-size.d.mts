export const INSPECT_MARKERS: string[];
export const COUNTED_CHUNKS: string[];
export interface Chunk { file: string; bytes: number; gzipBytes: number }
export function measureBundle(distDir: string): {
  xstate: Chunk;
  machine: Chunk;
  gzipKb: number;
  inspectHits: string[];
  totalJsGzipKb: number;
};
