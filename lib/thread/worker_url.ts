/**
 * Where a worker script is, from source and from a compiled executable. From source, paths are
 * the repository's. In a `bun build --compile` executable, library modules are bundled into the
 * tool's entry at the root of the embedded file system, and each worker (built as an extra
 * entry point, see scripts/build.ts) keeps its path below that root.
 */

/**
 * @param moduleUrl `import.meta.url` of the calling module
 * @param modulePath the calling module's path from the repository root, e.g. `lib/hash/pool.ts`
 * @param workerPath the worker's path from the repository root, e.g. `lib/hash/hash_worker.ts`
 * @example
 * new Worker(workerUrl(import.meta.url, "lib/hash/pool.ts", "lib/hash/hash_worker.ts"));
 */
export function workerUrl(moduleUrl: string, modulePath: string, workerPath: string): string {
  if (moduleUrl.endsWith(`/${modulePath}`)) {
    const root = moduleUrl.slice(0, moduleUrl.length - modulePath.length);
    return new URL(workerPath, root).href;
  }
  return new URL(`./${workerPath}`, moduleUrl).href;
}
