import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { ROOT } from "./helpers.ts";

const LIB = join(ROOT, "lib");

/** Every .ts file below a folder. */
function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith(".ts") ? [join(dir, e.name)] : []));
}

/** lib folder → the lib folders its files import (type imports included: they are a dependency too). */
function folderGraph(): Map<string, Set<string>> {
  const graph = new Map<string, Set<string>>();
  for (const file of sources(LIB)) {
    const from = relative(LIB, file).split("/")[0]!;
    // Imports in JSDoc examples count too: an example that reaches up a layer teaches the reader to.
    const text = readFileSync(file, "utf8");
    for (const match of text.matchAll(/(?:from|import)\s*\(?\s*["'](\.{1,2}\/[^"']+)["']/g)) {
      const target = relative(LIB, resolve(dirname(file), match[1]!));
      if (target.startsWith("..")) continue;
      const to = target.split("/")[0]!;
      if (to === from || !target.includes("/")) continue;
      if (!graph.has(from)) graph.set(from, new Set());
      graph.get(from)!.add(to);
    }
  }
  return graph;
}

/** The cycles of a graph, each as the path that closes it. */
function cycles(graph: Map<string, Set<string>>): string[] {
  const found = new Set<string>();
  const visit = (node: string, path: string[]) => {
    for (const next of graph.get(node) ?? []) {
      const at = path.indexOf(next);
      if (at >= 0) found.add([...path.slice(at), next].join(" → "));
      else visit(next, [...path, next]);
    }
  };
  for (const node of graph.keys()) visit(node, [node]);
  return [...found].sort();
}

describe("the library's layers", () => {
  test("no two lib folders import each other, directly or around a circle", () => {
    expect(cycles(folderGraph())).toEqual([]);
  });

  test("lib/core is the ground: it imports nothing of ours", () => {
    expect([...(folderGraph().get("core") ?? [])]).toEqual([]);
  });

  test("the check finds a circle when there is one", () => {
    const graph = new Map([
      ["io", new Set(["hash"])],
      ["hash", new Set(["core", "io"])],
    ]);
    expect(cycles(graph)).toEqual(["hash → io → hash", "io → hash → io"]);
  });

  test("outside lib/cli, library code never writes to stdout or stderr itself", () => {
    const writers = /process\.(stdout|stderr)\.write|console\.(log|error|warn|info)\(|writeSync\(\s*[12]\s*,/;
    const offenders = sources(LIB)
      .filter((file) => !relative(LIB, file).startsWith("cli/"))
      .flatMap((file) =>
        readFileSync(file, "utf8")
          .split("\n")
          .map((line, i) => ({ file: relative(ROOT, file), line: i + 1, text: line })),
      )
      // JSDoc examples may show what a caller does with the result.
      .filter(({ text }) => !/^\s*\*/.test(text) && writers.test(text));
    expect(offenders).toEqual([]);
  });
});
