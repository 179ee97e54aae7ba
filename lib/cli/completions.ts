/**
 * Shell completions made from a tool's citty definitions: its options (long names, one-letter
 * aliases, whether they take a value and what kind), its sub-commands, and whether it takes
 * file operands. One {@link CommandSpec} per tool (each tool prints its own when run with
 * `CARTKIT_COMMAND_SPEC=1`, see lib/cli/run.ts), turned into scripts for bash, zsh and fish.
 * Options an anchor spells its own way (`-f_size`, `-H2`) are not citty's and not offered.
 */
import type { ArgsDef, CommandDef } from "citty";

/** One option. */
export interface OptionSpec {
  long: string;
  short?: string;
  /** Takes a value (`--report FILE`). */
  value: boolean;
  /** What the value is (`FILE`, `DIR`, `N`…). */
  hint?: string;
  description: string;
}

/** A command and its sub-commands. */
export interface CommandSpec {
  name: string;
  description: string;
  options: OptionSpec[];
  /** Whether file names are operands here. */
  files: boolean;
  commands: CommandSpec[];
}

type Resolvable<T> = T | Promise<T> | (() => T) | (() => Promise<T>);

async function resolve<T>(value: Resolvable<T>): Promise<T> {
  return typeof value === "function" ? await (value as () => T | Promise<T>)() : await value;
}

/**
 * The spec of a citty command (sub-commands resolved), for completions.
 * @example
 * declare const command: Parameters<typeof commandSpec>[0];
 * const spec = await commandSpec(command); // { name: "dispatchcopy", options: [...], commands: [{ name: "jobs", ... }] }
 */
export async function commandSpec(command: CommandDef<ArgsDef>, name?: string, root = true): Promise<CommandSpec> {
  const meta = (await resolve(command.meta ?? {})) as { name?: string; description?: string };
  const args = (await resolve(command.args ?? {})) as ArgsDef;
  const options: OptionSpec[] = [];
  let positional = false;
  for (const [key, def] of Object.entries(args)) {
    if (def.type === "positional") {
      positional = true;
      continue;
    }
    const aliases = [(def as { alias?: string | string[] }).alias ?? []].flat();
    const description = ((def as { description?: string }).description ?? "").split("\n")[0]!;
    const value = def.type !== "boolean";
    options.push({ long: key, ...(aliases.find((a) => a.length === 1) ? { short: aliases.find((a) => a.length === 1) } : {}), value, ...((def as { valueHint?: string }).valueHint ? { hint: (def as { valueHint?: string }).valueHint } : {}), description });
    if (def.type === "boolean" && (def as { default?: unknown }).default === true) options.push({ long: `no-${key}`, value: false, description: `Not: ${description}` });
  }
  const subCommands = (await resolve(command.subCommands ?? {})) as Record<string, Resolvable<CommandDef<ArgsDef>>>;
  const commands: CommandSpec[] = [];
  for (const [sub, def] of Object.entries(subCommands)) commands.push(await commandSpec(await resolve(def), sub, false));
  const own = name ?? (meta.name ?? "").split(" ").pop() ?? "";
  return {
    name: own,
    description: (meta.description ?? "").split("\n")[0]!,
    options: [...options, { long: "help", short: "h", value: false, description: "Show help" }, ...(root ? [{ long: "version", short: "V", value: false, description: "Show the version" }] : [])],
    files: positional || (root && (commands.length === 0 || Object.keys(args).length > 0)),
    commands,
  };
}

/** Every command of the tree with the path of sub-command names that leads to it. */
function walk(spec: CommandSpec, path: string[] = []): Array<{ path: string[]; spec: CommandSpec }> {
  return [{ path, spec }, ...spec.commands.flatMap((c) => walk(c, [...path, c.name]))];
}

function functionName(tool: string): string {
  return `_cartkit_${tool.replace(/[^A-Za-z0-9]/g, "_")}`;
}

/** What a value hint completes to: files, folders, or nothing to offer. */
function valueKind(hint: string | undefined): "file" | "dir" | "none" {
  if (!hint) return "none";
  if (/^(DIR|FOLDER)S?$/i.test(hint)) return "dir";
  if (/FILE|PATH|SOURCE|DEST/i.test(hint)) return "file";
  return "none";
}

/** The bash script: `complete -F` with a function that follows sub-commands. */
export function bashCompletion(spec: CommandSpec, version: string): string {
  const fn = functionName(spec.name);
  const all = walk(spec);
  const valued = [...new Set(all.flatMap(({ spec: s }) => s.options.filter((o) => o.value).flatMap((o) => [`--${o.long}`, ...(o.short ? [`-${o.short}`] : [])])))];
  const transitions = all
    .filter(({ path }) => path.length > 0)
    .map(
      ({ path }) =>
        `      "${path
          .slice(0, -1)
          .map((p) => `/${p}`)
          .join("")}/${path.at(-1)}") path="$path/${path.at(-1)}" ;;`,
    );
  const levels = all.map(({ path, spec: s }) => {
    const options = s.options.flatMap((o) => [`--${o.long}`, ...(o.short ? [`-${o.short}`] : [])]).join(" ");
    const files = s.options.filter((o) => o.value && valueKind(o.hint) === "file").flatMap((o) => [`--${o.long}`, ...(o.short ? [`-${o.short}`] : [])]);
    const dirs = s.options.filter((o) => o.value && valueKind(o.hint) === "dir").flatMap((o) => [`--${o.long}`, ...(o.short ? [`-${o.short}`] : [])]);
    return `    "${path.map((p) => `/${p}`).join("")}") options="${options}"; commands="${s.commands.map((c) => c.name).join(" ")}"; files=${s.files ? 1 : 0}; file_values=" ${files.join(" ")} "; dir_values=" ${dirs.join(" ")} " ;;`;
  });
  return `# bash completion for ${spec.name} (cartkit ${version}), made from its option definitions
${fn}() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" prev="\${COMP_WORDS[COMP_CWORD-1]}" path="" w i
  local valued=" ${valued.join(" ")} "
  # --option=value: bash splits at '='
  if [[ "$cur" == "=" ]]; then cur=""; fi
  if [[ "$prev" == "=" && COMP_CWORD -ge 2 ]]; then prev="\${COMP_WORDS[COMP_CWORD-2]}"; fi
  for ((i = 1; i < COMP_CWORD; i++)); do
    w="\${COMP_WORDS[i]}"
    if [[ "$valued" == *" $w "* ]]; then ((i++)); continue; fi
    case "$path/$w" in
${transitions.join("\n")}
    esac
  done
  local options="" commands="" files=0 file_values="" dir_values=""
  case "$path" in
${levels.join("\n")}
  esac
  if [[ "$valued" == *" $prev "* ]]; then
    if [[ "$file_values" == *" $prev "* ]]; then COMPREPLY=($(compgen -f -- "$cur"))
    elif [[ "$dir_values" == *" $prev "* ]]; then COMPREPLY=($(compgen -d -- "$cur"))
    else COMPREPLY=()
    fi
    return 0
  fi
  if [[ "$cur" == -* ]]; then
    COMPREPLY=($(compgen -W "$options" -- "$cur"))
  else
    COMPREPLY=($(compgen -W "$commands" -- "$cur"))
    if [[ $files == 1 ]]; then COMPREPLY+=($(compgen -f -- "$cur")); fi
  fi
  return 0
}
complete -o filenames -o bashdefault -F ${fn} ${spec.name}
`;
}

/** A text for inside single quotes (zsh, bash). */
function singleQuoted(text: string): string {
  return text.replace(/'/g, `'\\''`);
}

/** An `_arguments` description: brackets and backslashes escaped. */
function zshDescription(text: string): string {
  return singleQuoted(text.replace(/\\/g, "\\\\").replace(/([[\]:])/g, "\\$1"));
}

/** The zsh script (`#compdef`): `_arguments` per sub-command, operands by a function per level. */
export function zshCompletion(spec: CommandSpec, version: string): string {
  const fn = functionName(spec.name);
  const all = walk(spec);
  const transitions = all
    .filter(({ path }) => path.length > 0)
    .map(
      ({ path }) =>
        `      "${path
          .slice(0, -1)
          .map((p) => `/${p}`)
          .join("")}/${path.at(-1)}") cmd="$cmd/${path.at(-1)}" ;;`,
    );
  const helpers: string[] = [];
  const levels = all.map(({ path, spec: s }, index) => {
    const specs = s.options.map((o) => {
      const action = o.value ? `:${(o.hint ?? "value").toLowerCase()}:${valueKind(o.hint) === "file" ? "_files" : valueKind(o.hint) === "dir" ? "_files -/" : " "}` : "";
      return o.short ? `'(-${o.short} --${o.long})'{-${o.short},--${o.long}}'[${zshDescription(o.description)}]${action}'` : `'--${o.long}${o.value ? "=" : ""}[${zshDescription(o.description)}]${action}'`;
    });
    if (s.commands.length || s.files) {
      const operands = `${fn}_operands_${index}`;
      const commands = s.commands.map((c) => `'${singleQuoted(`${c.name}:${c.description.replace(/:/g, "\\:")}`)}'`).join(" ");
      helpers.push(`${operands}() {\n${s.commands.length ? `  local -a commands\n  commands=(${commands})\n  _describe -t commands command commands\n` : ""}${s.files ? "  _files\n" : ""}}`);
      specs.push(`'*: :${operands}'`);
    }
    return `    "${path.map((p) => `/${p}`).join("")}")\n      _arguments -s \\\n        ${specs.join(" \\\n        ")}\n      ;;`;
  });
  return `#compdef ${spec.name}
# zsh completion for ${spec.name} (cartkit ${version}), made from its option definitions
${helpers.join("\n")}
${fn}() {
  local cmd="" w
  for w in "\${(@)words[2,CURRENT-1]}"; do
    case "$cmd/$w" in
${transitions.join("\n")}
    esac
  done
  case "$cmd" in
${levels.join("\n")}
  esac
}
if [[ "$funcstack[1]" == "_${spec.name}" ]]; then
  ${fn} "$@"
else
  compdef ${fn} ${spec.name}
fi
`;
}

/** A text inside fish single quotes. */
function fishQuoted(text: string): string {
  return `'${text.replace(/\\/g, "\\\\").replace(/'/g, "\\'")}'`;
}

/** The fish script: one `complete` per option and sub-command, conditioned on the sub-command seen. */
export function fishCompletion(spec: CommandSpec, version: string): string {
  const lines = [`# fish completion for ${spec.name} (cartkit ${version}), made from its option definitions`];
  const all = walk(spec);
  const names = (s: CommandSpec) => s.commands.map((c) => c.name).join(" ");
  for (const { path, spec: s } of all) {
    const here = path.length === 0 ? (spec.commands.length ? `not __fish_seen_subcommand_from ${names(spec)}` : "") : [`__fish_seen_subcommand_from ${path.at(-1)}`, ...(s.commands.length ? [`not __fish_seen_subcommand_from ${names(s)}`] : [])].join("; and ");
    const condition = here ? ` -n ${fishQuoted(here)}` : "";
    if (!s.files) lines.push(`complete -c ${spec.name}${condition} -f`);
    for (const c of s.commands) lines.push(`complete -c ${spec.name}${condition} -f -a ${c.name} -d ${fishQuoted(c.description)}`);
    for (const o of s.options) {
      const kind = valueKind(o.hint);
      const value = o.value ? (kind === "file" ? " -r -F" : kind === "dir" ? ` -r -f -a ${fishQuoted("(__fish_complete_directories)")}` : " -x") : "";
      lines.push(`complete -c ${spec.name}${condition}${o.short ? ` -s ${o.short}` : ""} -l ${o.long}${value} -d ${fishQuoted(o.description)}`);
    }
  }
  return `${lines.join("\n")}\n`;
}
