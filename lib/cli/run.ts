/**
 * The top-level runner every tool uses: argument checking, `--help` and `--version`, and the
 * translation of errors into one stderr line and an exit code. Never a stack trace for the user
 * (set CARTKIT_DEBUG=1 to see one, and a line for each worker thread the tool had to do without).
 */
import { removeLivePartials } from "../io/atomic_file.ts";
import { removeNewPartials } from "../io/held_folder.ts";
import { parseArgs, renderUsage, type ArgsDef, type CommandDef, type ParsedArgs, type SubCommandsDef } from "citty";
import { CliError, describeSystemError, ExitCode } from "../core/errors.ts";
import { showName } from "../core/names.ts";
import { onThreadFallback } from "../thread/fallback.ts";
import { programArgs } from "./command_line.ts";
import { guardArmed, guardNamedWaits, setInterruptGuardName } from "../core/interrupt_guard.ts";
import { flushOutputs, flushOutputsWhileEnding } from "./output.ts";
import { commandSpec } from "./completions.ts";

/** A tool (or one sub-command of a tool): its citty definition and the function that does the work and returns the exit code. */
export interface ToolDef<T extends ArgsDef> {
  command: CommandDef<T>;
  /**
   * The operands as `--help`'s USAGE line shows them after `[OPTIONS]`, e.g. `SOURCE DEST...`.
   * @default what citty shows: each positional argument and each required option
   */
  operands?: string;
  /** Text appended to `--help`: exit codes, differences from the anchor tool. */
  epilogue: string;
  /** Does the work; returns the exit code. */
  main(args: ParsedArgs<T>, rawArgs: string[]): Promise<number>;
}

/**
 * A tool made of sub-commands (`ltfs-pack plan …`, `ltfs-pack write …`): its own citty command
 * (name, version, description) and one {@link ToolDef} per sub-command, whose citty commands
 * become the tool's citty `subCommands` (listed under COMMANDS by `--help`). The first operand
 * names the sub-command; every other argument, before it or after, is the sub-command's.
 * @example
 * import { type ArgsDef, defineCommand } from "citty";
 * import { VERSION as version } from "../core/version.ts";
 * declare const plan: ToolDef<ArgsDef>, write: ToolDef<ArgsDef>;
 * await runTool({ command: defineCommand({ meta: { name: "tool", version } }), epilogue: "Exit codes: …", subCommands: { plan, write } });
 */
export interface ToolGroupDef<S extends Record<string, ArgsDef>> {
  command: CommandDef;
  /** Text appended to the tool's own `--help`. */
  epilogue: string;
  subCommands: { [K in keyof S]: ToolDef<S[K]> };
}

/** The parsed arguments of a citty command, as its `main` receives them. */
export type CommandArgs<C> = C extends CommandDef<infer T> ? ParsedArgs<T> : never;

function optionNames(args: ArgsDef): { long: Map<string, string>; short: Map<string, string> } {
  const long = new Map<string, string>();
  const short = new Map<string, string>();
  for (const [name, def] of Object.entries(args)) {
    if (def.type === "positional") continue;
    const type = def.type === "boolean" ? "boolean" : "string";
    long.set(name, type);
    long.set(
      name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`),
      type,
    );
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

/**
 * The `--help` text: citty's usage (plain text when not on a terminal), the operands on its
 * USAGE line when the tool names them, and the epilogue. `parent` is the tool of a sub-command.
 */
export async function helpText<T extends ArgsDef, S extends Record<string, ArgsDef>>(tool: ToolDef<T> | ToolGroupDef<S>, parent?: CommandDef): Promise<string> {
  // citty reads only the parent's name and version.
  let usage = "subCommands" in tool ? await renderUsage(groupCommand(tool)) : await renderUsage(tool.command, parent && { meta: parent.meta });
  if (!process.stdout.isTTY) usage = usage.replace(/\u001b\[[0-9;]*m/g, "");
  const operands = "operands" in tool ? tool.operands : undefined;
  if (operands !== undefined) {
    const name = commandName(tool.command, parent);
    const options = Object.keys(tool.command.args ?? {}).length > 0 ? " [OPTIONS]" : "";
    usage = usage.replace(/^((?:\u001b\[[0-9;]*m)*USAGE(?:\u001b\[[0-9;]*m)*) .*$/m, (_, label: string) => `${label} ${name}${options} ${operands}`);
  }
  return `${usage.trimEnd()}\n\n${tool.epilogue.trim()}\n`;
}

/** The citty command of a tool of sub-commands, with its sub-commands' commands as `subCommands`. */
function groupCommand<S extends Record<string, ArgsDef>>(tool: ToolGroupDef<S>): CommandDef {
  const subCommands: SubCommandsDef = {};
  for (const name of Object.keys(tool.subCommands) as Array<keyof S & string>) subCommands[name] = tool.subCommands[name].command;
  return { ...tool.command, subCommands };
}

/** `tool` or `tool sub-command`: the name errors and `--help` show. */
function commandName(command: { meta?: unknown }, parent?: { meta?: unknown }): string {
  const own = String((command.meta as { name?: string } | undefined)?.name ?? "cartkit");
  const parentName = (parent?.meta as { name?: string } | undefined)?.name;
  return parentName ? `${parentName} ${own}` : own;
}

/** Prints a user-facing error as `tool: path: message`. */
export function reportError(toolName: string, error: unknown): number {
  if (error instanceof CliError) {
    process.stderr.write(`${toolName}: ${error.path !== undefined ? `${showName(error.path)}: ` : ""}${error.message}\n`);
    return error.exitCode;
  }
  if (process.env.CARTKIT_DEBUG) console.error(error);
  const path = (error as { path?: string } | null)?.path;
  process.stderr.write(`${toolName}: ${path ? `${showName(String(path))}: ` : ""}${describeSystemError(error)}\n`);
  return ExitCode.UsageOrIo;
}

/**
 * Runs a tool with `process.argv` (or the arguments `rawArgs` gives; a function is called inside
 * the error handling, so an anchor-style option with a missing value is a one-line usage error)
 * and exits with its code. Output written to stdout is flushed before exiting.
 */
export async function runTool<T extends ArgsDef, S extends Record<string, ArgsDef>>(tool: ToolDef<T> | ToolGroupDef<S>, rawArgs: string[] | (() => string[]) = programArgs): Promise<never> {
  let given: string[] | undefined;
  let givenError: unknown;
  try {
    given = typeof rawArgs === "function" ? rawArgs() : rawArgs;
  } catch (error) {
    givenError = error;
  }
  let name = commandName(tool.command);
  onInterrupt(name);
  // A thread the calling thread had to make up for costs speed, not data: said only when debugging.
  if (process.env.CARTKIT_DEBUG) onThreadFallback((reason) => process.stderr.write(`${name}: debug: ${reason}\n`));
  let code: number;
  try {
    if (!given) throw givenError;
    const raw = given;
    await guardNamedWaits(raw);
    // Packaging asks each tool for its options (scripts/package.ts makes shell completions of them).
    if (process.env.CARTKIT_COMMAND_SPEC === "1") {
      const command = "subCommands" in tool ? groupCommand(tool) : tool.command;
      process.stdout.write(`${JSON.stringify(await commandSpec(command as unknown as CommandDef<ArgsDef>))}\n`);
      code = ExitCode.Ok;
    } else if ("subCommands" in tool) {
      const chosen = subCommandOf(tool, raw);
      name = chosen.name;
      code = chosen.sub ? await dispatch(chosen.sub, name, chosen.rest, tool.command) : await dispatchGroup(tool, name, raw, chosen.given);
    } else code = await dispatch(tool, name, raw);
  } catch (error) {
    code = reportError(name, error);
  }
  // Input that ended may have ended by the signal's doing (Ctrl-C stops the writer too): after
  // a wait on input, the signal's handler gets a turn before the run's own verdict.
  if (guardArmed()) await new Promise((resolve) => setTimeout(resolve, 1));
  await flushStdout();
  process.exit(code);
}

/**
 * The sub-command the arguments name (the first operand before `--`), with the arguments left
 * for it; `sub` is undefined when no operand or an unknown one is given.
 */
function subCommandOf<S extends Record<string, ArgsDef>>(tool: ToolGroupDef<S>, raw: readonly string[]): { name: string; given?: string; sub?: ToolDef<S[keyof S]>; rest: string[] } {
  const toolName = commandName(tool.command);
  const end = raw.includes("--") ? raw.indexOf("--") : raw.length;
  const at = raw.slice(0, end).findIndex((arg) => !arg.startsWith("-") || arg === "-");
  if (at < 0) return { name: toolName, rest: [...raw] };
  const given = raw[at]!;
  if (!Object.hasOwn(tool.subCommands, given)) return { name: toolName, given, rest: [...raw] };
  const sub = tool.subCommands[given as keyof S];
  return { name: commandName(sub.command, tool.command), given, sub, rest: [...raw.slice(0, at), ...raw.slice(at + 1)] };
}

/** A tool of sub-commands run without a known one: its `--help`, its `--version`, or a usage error. */
async function dispatchGroup<S extends Record<string, ArgsDef>>(tool: ToolGroupDef<S>, name: string, rawArgs: string[], given: string | undefined): Promise<number> {
  const beforeDashes = rawArgs.includes("--") ? rawArgs.slice(0, rawArgs.indexOf("--")) : rawArgs;
  if (given === undefined && (beforeDashes.includes("--help") || beforeDashes.includes("-h"))) {
    process.stdout.write(await helpText(tool));
    return ExitCode.Ok;
  }
  if (given === undefined && (beforeDashes.includes("--version") || beforeDashes.includes("-V"))) {
    const meta = tool.command.meta as { version?: string } | undefined;
    process.stdout.write(`${name} ${meta?.version ?? ""}\n`);
    return ExitCode.Ok;
  }
  throw new CliError(given === undefined ? `missing command; see '${name} --help'` : `unknown command '${given}'; see '${name} --help'`);
}

/** What a tool has to say when interrupted (e.g. how far it got); set while it works. */
let interruptNote: (() => string) | undefined;

/** Sets the line a tool adds when it is interrupted: what finished, how to go on. */
export function setInterruptNote(note: (() => string) | undefined): void {
  interruptNote = note;
}

/**
 * Ctrl-C (SIGINT) and SIGTERM: remove the partial files being written, write out the data lines
 * already made, say so and what finished, and exit 128 + the signal number at once, as shells
 * expect. A wait that holds the event loop has the guard of lib/core/interrupt_guard.ts.
 */
function onInterrupt(name: string): void {
  setInterruptGuardName(name, flushOutputs);
  for (const [signal, number] of [
    ["SIGINT", 2],
    ["SIGTERM", 15],
  ] as const) {
    process.on(signal, () => {
      const removed = removeLivePartials() + removeNewPartials();
      // The lines of what was done are kept, as a tool that prints each line as it goes keeps them.
      flushOutputsWhileEnding();
      const note = interruptNote?.();
      process.stderr.write(`${name}: interrupted (${signal})${removed > 0 ? `; ${removed} partial file(s) removed` : ""}${note ? `; ${note}` : ""}\n`);
      process.exit(128 + number);
    });
  }
}

async function dispatch<T extends ArgsDef>(tool: ToolDef<T>, name: string, rawArgs: string[], parent?: CommandDef): Promise<number> {
  const defs = (tool.command.args ?? {}) as T;
  const beforeDashes = rawArgs.includes("--") ? rawArgs.slice(0, rawArgs.indexOf("--")) : rawArgs;
  if (beforeDashes.includes("--help") || beforeDashes.includes("-h")) {
    process.stdout.write(await helpText(tool, parent));
    return ExitCode.Ok;
  }
  if (beforeDashes.includes("--version") || beforeDashes.includes("-V")) {
    const meta = (tool.command.meta ?? parent?.meta) as { version?: string } | undefined;
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

/**
 * Every value of a repeatable option, in order: `--vtape A --vtape=B` gives `["A", "B"]` (citty
 * keeps only the last). Nothing after `--` is an option.
 * @example
 * repeatedOption(["--mount", "m1", "--mount=m2", "plan.json"], "--mount"); // ["m1", "m2"]
 */
export function repeatedOption(rawArgs: readonly string[], option: string): string[] {
  const values: string[] = [];
  for (let i = 0; i < rawArgs.length; i++) {
    const arg = rawArgs[i]!;
    if (arg === "--") break;
    if (arg === option && i + 1 < rawArgs.length) values.push(rawArgs[++i]!);
    else if (arg.startsWith(`${option}=`)) values.push(arg.slice(option.length + 1));
  }
  return values;
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
