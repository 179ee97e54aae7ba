/**
 * The top-level runner every tool uses: argument checking, `--help` and `--version`, and the
 * translation of errors into one stderr line and an exit code. Never a stack trace for the user
 * (set CARTKIT_DEBUG=1 to see one).
 */
import { removeLivePartials } from "../io/atomic_file.ts";
import { removeNewPartials } from "../io/held_folder.ts";
import { parseArgs, renderUsage, type ArgsDef, type CommandDef, type ParsedArgs } from "citty";
import { CliError, describeSystemError, ExitCode } from "../core/errors.ts";
import { commandSpec } from "./completions.ts";

/** A tool: its citty definition and the function that does the work and returns the exit code. */
export interface ToolDef<T extends ArgsDef> {
  command: CommandDef<T>;
  /** Text appended to `--help`: exit codes, differences from the anchor tool. */
  epilogue: string;
  /** Does the work; returns the exit code. */
  main(args: ParsedArgs<T>, rawArgs: string[]): Promise<number>;
}

function optionNames(args: ArgsDef): { long: Map<string, string>; short: Map<string, string> } {
  const long = new Map<string, string>();
  const short = new Map<string, string>();
  for (const [name, def] of Object.entries(args)) {
    if (def.type === "positional") continue;
    const type = def.type === "boolean" ? "boolean" : "string";
    long.set(name, type);
    long.set(name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`), type);
    if (type === "boolean") long.set(`no-${name}`, type);
    const alias = (def as { alias?: string | string[] }).alias;
    const aliases = Array.isArray(alias) ? alias : alias ? [alias] : [];
    for (const alias of aliases) (alias.length === 1 ? short : long).set(alias, type);
  }
  return { long, short };
}

/**
 * Finds the first command-line option the tool does not define, so a typo is a usage error
 * instead of a silently ignored flag.
 */
export function findUnknownOption(rawArgs: readonly string[], args: ArgsDef): string | undefined {
  const { long, short } = optionNames(args);
  for (let i = 0; i < rawArgs.length; i++) {
    const arg = rawArgs[i]!;
    if (arg === "--") return undefined;
    if (arg === "-" || !arg.startsWith("-")) continue;
    if (arg.startsWith("--")) {
      const name = arg.slice(2).split("=")[0]!;
      const type = long.get(name);
      if (!type) return arg;
      if (type === "string" && !arg.includes("=")) i++;
      continue;
    }
    for (let j = 1; j < arg.length; j++) {
      const type = short.get(arg[j]!);
      if (!type) return `-${arg[j]}`;
      if (type === "string") {
        if (j === arg.length - 1) i++;
        break;
      }
    }
  }
  return undefined;
}

/** The `--help` text: citty's usage (plain text when not on a terminal) and the epilogue. */
export async function helpText<T extends ArgsDef>(tool: ToolDef<T>): Promise<string> {
  let usage = await renderUsage(tool.command);
  if (!process.stdout.isTTY) usage = usage.replace(/\u001b\[[0-9;]*m/g, "");
  return `${usage.trimEnd()}\n\n${tool.epilogue.trim()}\n`;
}

/** Prints a user-facing error as `tool: path: message`. */
export function reportError(toolName: string, error: unknown): number {
  if (error instanceof CliError) {
    process.stderr.write(`${toolName}: ${error.path !== undefined ? `${error.path}: ` : ""}${error.message}\n`);
    return error.exitCode;
  }
  if (process.env.CARTKIT_DEBUG) console.error(error);
  const path = (error as { path?: string } | null)?.path;
  process.stderr.write(`${toolName}: ${path ? `${path}: ` : ""}${describeSystemError(error)}\n`);
  return ExitCode.UsageOrIo;
}

/**
 * Runs a tool with `process.argv` (or the arguments `rawArgs` gives; a function is called inside
 * the error handling, so an anchor-style option with a missing value is a one-line usage error)
 * and exits with its code. Output written to stdout is flushed before exiting.
 */
export async function runTool<T extends ArgsDef>(tool: ToolDef<T>, rawArgs: string[] | (() => string[]) = process.argv.slice(2)): Promise<never> {
  const name = String((tool.command.meta as { name?: string } | undefined)?.name ?? "cartkit");
  onInterrupt(name);
  let code: number;
  try {
    code = await dispatch(tool, name, typeof rawArgs === "function" ? rawArgs() : rawArgs);
  } catch (error) {
    code = reportError(name, error);
  }
  await flushStdout();
  process.exit(code);
}

/** What a tool has to say when interrupted (e.g. how far it got); set while it works. */
let interruptNote: (() => string) | undefined;

/** Sets the line a tool adds when it is interrupted: what finished, how to go on. */
export function setInterruptNote(note: (() => string) | undefined): void {
  interruptNote = note;
}

/**
 * Ctrl-C (SIGINT) and SIGTERM: remove the partial files being written, say so and what
 * finished, and exit 128 + the signal number at once, as shells expect.
 */
function onInterrupt(name: string): void {
  for (const [signal, number] of [["SIGINT", 2], ["SIGTERM", 15]] as const) {
    process.on(signal, () => {
      const removed = removeLivePartials() + removeNewPartials();
      const note = interruptNote?.();
      process.stderr.write(`${name}: interrupted (${signal})${removed > 0 ? `; ${removed} partial file(s) removed` : ""}${note ? `; ${note}` : ""}\n`);
      process.exit(128 + number);
    });
  }
}

async function dispatch<T extends ArgsDef>(tool: ToolDef<T>, name: string, rawArgs: string[]): Promise<number> {
  // Packaging asks each tool for its options (scripts/package.ts makes shell completions of them).
  if (process.env.CARTKIT_COMMAND_SPEC === "1") {
    process.stdout.write(`${JSON.stringify(await commandSpec(tool.command as unknown as CommandDef<ArgsDef>))}\n`);
    return ExitCode.Ok;
  }
  const defs = (tool.command.args ?? {}) as T;
  const beforeDashes = rawArgs.includes("--") ? rawArgs.slice(0, rawArgs.indexOf("--")) : rawArgs;
  if (beforeDashes.includes("--help") || beforeDashes.includes("-h")) {
    process.stdout.write(await helpText(tool));
    return ExitCode.Ok;
  }
  if (beforeDashes.includes("--version") || beforeDashes.includes("-V")) {
    const meta = tool.command.meta as { version?: string } | undefined;
    process.stdout.write(`${name} ${meta?.version ?? ""}\n`);
    return ExitCode.Ok;
  }
  const unknown = findUnknownOption(rawArgs, defs);
  if (unknown) throw new CliError(`unrecognized option '${unknown}'; see '${name} --help'`, { exitCode: ExitCode.UsageOrIo });
  let args: ParsedArgs<T>;
  try {
    args = parseArgs(rawArgs, defs);
  } catch (error) {
    throw new CliError(`${(error as Error).message.replace(/\u001b\[[0-9;]*m/g, "")}; see '${name} --help'`);
  }
  return tool.main(args, rawArgs);
}

/** Waits until everything written to stdout has reached the pipe or file. */
export function flushStdout(): Promise<void> {
  return new Promise((resolve) => {
    if (process.stdout.writableLength === 0) resolve();
    else process.stdout.write("", () => resolve());
  });
}

/** Reading position handed to {@link rewriteArgs}' callback. */
export interface ArgCursor {
  /** The argument after the current one, without taking it. */
  peek(): string | undefined;
  /** Takes the argument after the current one (a value); a usage error when there is none. */
  take(): string;
}

/**
 * Rewrites a command line argument by argument before citty parses it: anchors' option styles
 * (`-H1`, `-f_size N`, `-dr`) become citty's. Everything from `--` on is kept as it is.
 * @example
 * rewriteArgs(["-H", "a.txt"], (arg) => (arg === "-H" ? ["--hash=0"] : [arg])); // ["--hash=0", "a.txt"]
 */
export function rewriteArgs(raw: readonly string[], rewrite: (arg: string, cursor: ArgCursor) => string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < raw.length; i++) {
    const arg = raw[i]!;
    if (arg === "--") {
      out.push(...raw.slice(i));
      break;
    }
    const cursor: ArgCursor = {
      peek: () => raw[i + 1],
      take: () => {
        const value = raw[i + 1];
        if (value === undefined) throw new CliError(`option '${arg}' needs a value; see --help`, { exitCode: ExitCode.UsageOrIo });
        i++;
        return value;
      },
    };
    out.push(...rewrite(arg, cursor));
  }
  return out;
}
