#!/usr/bin/env bun
/**
 * Type-checks every `@example` in the JSDoc of lib/ and tools/, so that an example cannot drift
 * from the code it shows. Run by `npm run check`.
 *
 *   bun scripts/examples.ts [FILE...]     every module under lib/ and tools/, or only FILEs
 *
 * An example is the text after `@example` up to the next tag or the end of the comment: each
 * ```ts fenced block in it, or, when it has no fence, all of it. Each is written into a file of
 * its own beside the module it documents (so its relative imports resolve from the module's
 * folder), and one tsc run over all of them checks them against tsconfig.json. An example reads
 * as if written in its module's scope: the module's exports are imported for it. Anything else
 * it uses it imports or declares in the open, at its start (`declare const fd: number;` for a
 * value the reader has at hand). tsc's errors are reported at the example's own line in the
 * module; the files are removed afterwards.
 */
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { basename, dirname, join, relative } from "node:path";

/** One example: its code and, for each of its lines, the line of the module it comes from. */
export interface Example {
  code: string[];
  lines: number[];
}

/**
 * The examples in a module's text, each with the module's line numbers.
 * @example
 * ```ts
 * const examples = examplesIn(readFileSync("lib/hash/crc32.ts", "utf8"));
 * ```
 */
export function examplesIn(text: string): Example[] {
  const examples: Example[] = [];
  for (const comment of text.matchAll(/\/\*\*[\s\S]*?\*\//g)) {
    const firstLine = text.slice(0, comment.index).split("\n").length;
    const body = comment[0].split("\n").map((line, i) => ({ line: firstLine + i, text: stripStar(line, i) }));
    for (let i = 0; i < body.length; i++) {
      if (!/^@example\b/.test(body[i]!.text)) continue;
      const lines: Array<{ line: number; text: string }> = [];
      // Text on the tag's own line is a caption, not code.
      for (i++; i < body.length && !/^@\w/.test(body[i]!.text); i++) lines.push(body[i]!);
      i--;
      if (lines.some((l) => /^```/.test(l.text))) {
        let block: Example | undefined;
        for (const l of lines) {
          if (block === undefined && /^```(ts|typescript)\s*$/.test(l.text)) block = { code: [], lines: [] };
          else if (block !== undefined && /^```\s*$/.test(l.text)) {
            examples.push(block);
            block = undefined;
          } else if (block !== undefined) {
            block.code.push(l.text);
            block.lines.push(l.line);
          }
        }
      } else {
        while (lines.length > 0 && lines.at(-1)!.text.trim() === "") lines.pop();
        if (lines.length > 0) examples.push({ code: lines.map((l) => l.text), lines: lines.map((l) => l.line) });
      }
    }
  }
  return examples;
}

/** A comment line without its `/**`, `*\/` and leading ` * `. */
function stripStar(line: string, index: number): string {
  let text = index === 0 ? line.replace(/^\s*\/\*\*\s?/, "") : line;
  text = text.replace(/\s*\*\/\s*$/, "");
  return index === 0 ? text : text.replace(/^\s*\* ?/, "");
}

/** The names a module exports, split into values and types (verbatimModuleSyntax imports types as types). */
export function exportsOf(text: string): { values: string[]; types: string[] } {
  const values = new Set<string>();
  const types = new Set<string>();
  for (const m of text.matchAll(/^export\s+(?:declare\s+)?(?:default\s+)?(?:async\s+)?(?:abstract\s+)?(function\*?|class|const|let|var|enum|interface|type)\s+([A-Za-z_$][\w$]*)/gm)) {
    (m[1] === "interface" || m[1] === "type" ? types : values).add(m[2]!);
  }
  return { values: [...values], types: [...types] };
}

/** The names an example binds itself with `import` and `declare` at the start of a line. */
export function namesBoundBy(code: readonly string[]): Set<string> {
  const names = new Set<string>();
  for (const line of code) {
    const imported = /^\s*import\s+(?:type\s+)?(.*?)\s+from\s/.exec(line)?.[1];
    if (imported !== undefined) {
      const braces = /\{([^}]*)\}/.exec(imported)?.[1];
      for (const part of braces?.split(",") ?? []) {
        const local = part
          .trim()
          .replace(/^type\s+/, "")
          .split(/\s+as\s+/)
          .at(-1)!;
        if (local !== "") names.add(local);
      }
      const lead = /^([A-Za-z_$][\w$]*)/.exec(imported.replace(/^\*\s+as\s+/, ""))?.[1];
      if (lead !== undefined) names.add(lead);
      continue;
    }
    const fn = /^\s*declare\s+(?:function|class)\s+([A-Za-z_$][\w$]*)/.exec(line)?.[1];
    if (fn !== undefined) names.add(fn);
    const declared = /^\s*(?:declare\s+)?(?:const|let|var)\s+(.*)$/.exec(line)?.[1];
    if (declared === undefined) continue;
    // Declarators are split at the commas outside brackets; each binds its name or the names it destructures.
    let depth = 0;
    let start = 0;
    const declarators: string[] = [];
    for (let i = 0; i < declared.length; i++) {
      const c = declared[i]!;
      if ("{[(<".includes(c)) depth++;
      else if ("}])>".includes(c)) depth--;
      else if (c === "," && depth === 0) {
        declarators.push(declared.slice(start, i));
        start = i + 1;
      }
    }
    declarators.push(declared.slice(start));
    for (const d of declarators) {
      const pattern = /^\s*\{([^}]*)\}/.exec(d)?.[1];
      if (pattern !== undefined) for (const n of pattern.split(",")) names.add(n.split(":").at(-1)!.trim());
      else {
        const name = /^\s*([A-Za-z_$][\w$]*)/.exec(d)?.[1];
        if (name !== undefined) names.add(name);
      }
    }
  }
  return names;
}

/** The source of the file that holds one example of `module`: the module's exports it does not bind itself, imported, then its code. */
export function exampleSource(module: string, moduleText: string, example: Example): string {
  const bound = namesBoundBy(example.code);
  const { values, types } = exportsOf(moduleText);
  const names = [...values.filter((n) => !bound.has(n)), ...types.filter((t) => !bound.has(t)).map((t) => `type ${t}`)];
  // On the first line, so that the example's own lines keep their numbers (one line down).
  const head = names.length === 0 ? "" : `import { ${names.join(", ")} } from "./${basename(module)}";`;
  return `${head}\n${example.code.join("\n")}\nexport {};\n`;
}

/** Every .ts module under lib/ and tools/, relative to the repository. */
function modules(root: string): string[] {
  return [...new Bun.Glob("{lib,tools}/**/*.ts").scanSync({ cwd: root })].filter((f) => !basename(f).startsWith(".example-") && !f.endsWith(".d.ts")).sort();
}

/** Checks the examples of the given modules (all of lib/ and tools/ by default); returns tsc's errors, at the modules' lines. */
export function checkExamples(root: string, only: string[] = []): { examples: number; errors: string[] } {
  const written = new Map<string, { module: string; lines: number[] }>();
  const tag = `.example-${process.pid}`;
  try {
    for (const module of only.length > 0 ? only.map((f) => relative(root, join(root, f))) : modules(root)) {
      const text = readFileSync(join(root, module), "utf8");
      for (const [n, example] of examplesIn(text).entries()) {
        const file = join(dirname(module), `${tag}-${basename(module, ".ts")}-${n + 1}.ts`);
        writeFileSync(join(root, file), exampleSource(module, text, example));
        written.set(file, { module, lines: example.lines });
      }
    }
    if (written.size === 0) return { examples: 0, errors: [] };
    const config = join(root, `tsconfig${tag}.json`);
    writeFileSync(config, JSON.stringify({ extends: "./tsconfig.json", include: [], files: [...written.keys()] }));
    try {
      const tsc = Bun.spawnSync([join(root, "node_modules/.bin/tsc"), "-p", config, "--pretty", "false"], { cwd: root, stdout: "pipe", stderr: "pipe" });
      const out = `${tsc.stdout.toString()}${tsc.stderr.toString()}`;
      const errors = out
        .split("\n")
        .filter((l) => l.trim() !== "" && !/^\s/.test(l))
        .map((line) => {
          const m = /^(.+?)\((\d+),(\d+)\): (.*)$/.exec(line);
          const at = m ? written.get(m[1]!) : undefined;
          if (!m || !at) return line;
          const lineInModule = at.lines[Number(m[2]) - 2];
          return `${at.module}:${lineInModule ?? "?"}: in an @example: ${m[4]}`;
        });
      if (tsc.exitCode !== 0 && errors.length === 0) errors.push(`tsc exited with ${tsc.exitCode}`);
      return { examples: written.size, errors };
    } finally {
      rmSync(config, { force: true });
    }
  } finally {
    for (const file of written.keys()) rmSync(join(root, file), { force: true });
  }
}

if (import.meta.main) {
  const root = join(import.meta.dir, "..");
  const { examples, errors } = checkExamples(root, process.argv.slice(2));
  for (const error of errors) process.stderr.write(`${error}\n`);
  process.stderr.write(`examples: ${examples} checked, ${errors.length === 0 ? "all compile" : `${errors.length} errors`}\n`);
  process.exit(errors.length === 0 ? 0 : 1);
}
