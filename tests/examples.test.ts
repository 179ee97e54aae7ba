import { describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { checkExamples, exampleSource, examplesIn, namesBoundBy } from "../scripts/examples.ts";
import { ROOT, tempDir } from "./helpers.ts";

const MODULE = `/**
 * Calls back with each line.
 * @example
 * const log: string[] = [];
 * eachLine("a\\nb", (line) => log.push(line));
 */
export function eachLine(text: string, call: (line: string) => void): void {
  for (const line of text.split("\\n")) call(line);
}

/**
 * @example A caption, then a fenced block
 * \`\`\`ts
 * declare const text: string;
 * eachLine(text, (line) => line.length);
 * \`\`\`
 * @returns nothing
 */
export type Line = string;
`;

describe("the @example check (scripts/examples.ts)", () => {
  test("finds each example with the module's line numbers: unfenced up to the next tag, fenced blocks only", () => {
    expect(examplesIn(MODULE)).toEqual([
      { code: ["const log: string[] = [];", 'eachLine("a\\nb", (line) => log.push(line));'], lines: [4, 5] },
      { code: ["declare const text: string;", "eachLine(text, (line) => line.length);"], lines: [14, 15] },
    ]);
  });

  test("an example gets the module's exports but the names it binds itself", () => {
    expect([...namesBoundBy(['import { a, type B, c as d } from "./x.ts";', "declare const e: Map<string, number>, f: string;", "declare const { g, h }: I;", "const i = 1;"])]).toEqual(["a", "B", "d", "e", "f", "g", "h", "i"]);
    expect(exampleSource("lib/m.ts", MODULE, { code: ["declare const eachLine: number;", "eachLine;"], lines: [4, 5] })).toBe('import { type Line } from "./m.ts";\ndeclare const eachLine: number;\neachLine;\nexport {};\n');
  });

  test("tsc's errors point at the example's line in the module; the files it wrote are gone", () => {
    const root = tempDir("cartkit-examples-");
    mkdirSync(join(root, "lib"));
    symlinkSync(join(ROOT, "node_modules"), join(root, "node_modules"));
    writeFileSync(join(root, "tsconfig.json"), JSON.stringify({ compilerOptions: { strict: true, noEmit: true, module: "Preserve", moduleResolution: "bundler", target: "ESNext", lib: ["ESNext"], types: [], allowImportingTsExtensions: true, verbatimModuleSyntax: true } }));
    writeFileSync(join(root, "lib/lines.ts"), MODULE.replace("const log: string[] = [];", "const log: number[] = [];"));
    expect(checkExamples(root)).toEqual({ examples: 2, errors: ["lib/lines.ts:5: in an @example: error TS2345: Argument of type 'string' is not assignable to parameter of type 'number'."] });
    expect(readdirSync(join(root, "lib"))).toEqual(["lines.ts"]);
    expect(readdirSync(root).sort()).toEqual(["lib", "node_modules", "tsconfig.json"]);

    writeFileSync(join(root, "lib/lines.ts"), MODULE);
    expect(checkExamples(root)).toEqual({ examples: 2, errors: [] });
    expect(existsSync(join(root, "lib/lines.ts"))).toBe(true);
  }, 120_000);
});
