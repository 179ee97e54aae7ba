/**
 * The command line as the kernel handed it over. Arguments are bytes: a file name that is not
 * UTF-8 (`caf\xE9.mov`) reaches `process.argv` with U+FFFD in place of its bytes, which names
 * another file. On Linux the exact bytes are in /proc/self/cmdline; each argument that lost
 * bytes is taken from there, carried as lib/core/names.ts carries names.
 *
 * The name the program was called by matters too: xxhsum hashes with XXH32 when called as
 * `xxh32sum` (a link to it), and so on.
 */
import { procEntries } from "../core/environment.ts";
import { baseOf, nameFromBytes } from "../core/names.ts";

/** What the program was given. */
export interface CommandLine {
  /** The arguments after the program (and, from source, the script), names kept as bytes. */
  args: string[];
  /** The last part of the name it was called by, without `.ts` or `.js`: `xxh32sum`, `xxsum`. */
  invokedAs: string;
}

const lossy = new TextDecoder("utf-8", { ignoreBOM: true });

/**
 * The arguments and the name called by. `argv` is what the runtime gave (`process.argv`
 * without the runtime and the script); where /proc is missing, it is used as it is.
 * @example
 * const { args, invokedAs } = commandLine(); // ["caf\udce9.mov"], "xxh32sum"
 */
export function commandLine(argv: readonly string[] = process.argv.slice(2)): CommandLine {
  const fallback = { args: [...argv], invokedAs: baseOf(process.argv[1] ?? "").replace(/\.(ts|js)$/, "") };
  const entries = procEntries("/proc/self/cmdline");
  if (!entries) return fallback;
  // The runtime's own arguments come first; the program's are the last ones, in order.
  if (entries.length < argv.length + 1) return fallback;
  const tail = entries.slice(entries.length - argv.length);
  const args = argv.map((arg, i) => {
    if (!arg.includes("\ufffd")) return arg;
    const bytes = tail[i]!;
    // Only where the runtime's text is exactly these bytes read loosely: the same argument.
    return lossy.decode(bytes) === arg ? nameFromBytes(bytes) : arg;
  });
  const called = nameFromBytes(entries[entries.length - argv.length - 1]!);
  return { args, invokedAs: baseOf(called).replace(/\.(ts|js)$/, "") };
}

/**
 * The program's arguments with names kept as bytes (see {@link commandLine}).
 * @example
 * const args = programArgs(); // ["-r", "caf\udce9", "/mnt/d1"]
 */
export function programArgs(): string[] {
  return commandLine().args;
}

/**
 * A tool of commands' command: the first operand, unless a `--` comes before it; and the
 * arguments without that operand.
 * @example
 * commandOperand(["--json", "log", "store"]); // { name: "log", rest: ["--json", "store"] }
 */
export function commandOperand(args: readonly string[]): { name: string | undefined; rest: string[] } {
  const at = args.findIndex((arg) => !arg.startsWith("-"));
  const name = at < 0 || args.slice(0, at).includes("--") ? undefined : args[at];
  return { name, rest: at < 0 ? [...args] : [...args.slice(0, at), ...args.slice(at + 1)] };
}

/**
 * Whether the arguments before `--` give one of the options: `--name`, `--name=…`, or a short
 * letter in a cluster (`-r`, `-qc`). A value glued to a short option that takes one (`-H2`) is
 * read as letters too: for lib/cli/restart_first.ts, where a wrong answer costs only time.
 * @example
 * givesOption(["-rq", "card"], ["recursive"], "r"); // true
 */
export function givesOption(raw: readonly string[], long: readonly string[], short: string): boolean {
  for (const arg of raw) {
    if (arg === "--") return false;
    if (arg.startsWith("--")) {
      const name = arg.slice(2).split("=", 1)[0]!;
      if (long.includes(name)) return true;
    } else if (arg.startsWith("-") && [...arg.slice(1)].some((letter) => short.includes(letter))) return true;
  }
  return false;
}
