/**
 * Imported first by every tool, before any other of its modules is loaded: a compiled tool
 * whose run works through many files, a short step each (a tree, a check file), restarts here
 * without the JIT's top tier (lib/core/top_tier.ts), before it has spent the time to load the
 * rest of itself. Loading a tool takes about 7 ms; the runtime alone starts in 2.5 ms.
 *
 * Which runs those are is told by the compiled tool's own name (whatever link it was called
 * by) and its arguments. A wrong answer costs time, never a result.
 */
import { restartWithoutTopTier } from "../core/top_tier.ts";
import { commandOperand, givesOption } from "./command_line.ts";

/** cartvault's commands that walk, hash or write a whole tree. */
const VAULT_TREE_COMMANDS = ["commit", "checkout", "verify"];

/** Sum tools: `-r`, `-c`, `--files-from`, or more than 64 arguments. */
function sumsOfManyFiles(args: readonly string[]): boolean {
  return givesOption(args, ["recursive", "check", "files-from"], "rc") || args.length > 64;
}

/** By tool: whether a run with these arguments works through many files. */
const MANY_FILES: Record<string, (args: readonly string[]) => boolean> = {
  xxsum: sumsOfManyFiles,
  "b3sum-ts": sumsOfManyFiles,
  dispatchcopy: (args) => givesOption(args, ["recursive"], "r"),
  "mhl-verify": () => true,
  "ltfs-pack": () => true,
  cartvault: (args) => VAULT_TREE_COMMANDS.includes(commandOperand(args).name ?? ""),
};

/**
 * Whether a run of `tool` with `args` works through many files, a short step each.
 * @example
 * manyFiles("xxsum", ["-r", "card"]); // true
 * manyFiles("dispatchcopy", ["clip.mov", "/mnt/d1"]); // false
 */
export function manyFiles(tool: string, args: readonly string[]): boolean {
  return Object.hasOwn(MANY_FILES, tool) && MANY_FILES[tool]!(args);
}

// A compiled tool is /$bunfs/root/NAME; its arguments follow it. (From source nothing is done.)
if (manyFiles(Bun.main.slice(Bun.main.lastIndexOf("/") + 1), process.argv.slice(2))) restartWithoutTopTier();
