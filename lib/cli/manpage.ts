/**
 * A man page (roff, the `man` macros) made from a tool's `--help` text, so the two cannot
 * drift apart: citty's description line becomes NAME, its USAGE line SYNOPSIS, its OPTIONS and
 * COMMANDS tables tagged paragraphs, and the tool's own epilogue (exit codes, differences from
 * the anchor) DESCRIPTION, kept as it is laid out. Each sub-command's `--help` gets a section
 * of its own. Every character that is not ASCII is written as a roff escape, so any groff
 * reads it.
 */

/** Text for roff: backslashes and non-ASCII escaped, a line that would start a request guarded. */
export function roffText(text: string): string {
  let out = "";
  for (const ch of text.replace(/\\/g, "\\e")) {
    const code = ch.codePointAt(0)!;
    out += code > 0x7e ? `\\[u${code.toString(16).toUpperCase().padStart(4, "0")}]` : ch;
  }
  return /^[.']/.test(out) ? `\\&${out}` : out;
}

/** An option or command name for roff: hyphens that stay hyphens when copied. */
function roffName(text: string): string {
  return roffText(text).replace(/-/g, "\\-");
}

/** The parts of a citty `--help` text. */
interface HelpParts {
  description: string;
  usage: string;
  tables: Array<{ title: string; rows: Array<[string, string]> }>;
  epilogue: string[];
}

function parseHelp(help: string): HelpParts {
  const lines = help.replace(/\r/g, "").split("\n");
  const parts: HelpParts = { description: (lines[0] ?? "").replace(/\s*\([^()]*\bv?\d+\.\d+[^()]*\)\s*$/, "").trim(), usage: "", tables: [], epilogue: [] };
  let table: HelpParts["tables"][number] | undefined;
  for (const raw of lines.slice(1)) {
    const line = raw.trimEnd();
    const usage = /^USAGE\s+(.*)$/.exec(line);
    if (usage) {
      parts.usage = usage[1]!.trim();
      continue;
    }
    if (/^(OPTIONS|COMMANDS|ARGUMENTS)$/.test(line)) {
      table = { title: line, rows: [] };
      parts.tables.push(table);
      continue;
    }
    if (/^Use .* for more information about a command\.$/.test(line)) continue;
    if (table && line === "") continue;
    if (table && /^\s/.test(line)) {
      const entry = /^\s+(\S.*?)(?:\s{2,}(\S.*))?$/.exec(line)!;
      table.rows.push([entry[1]!, entry[2] ?? ""]);
      continue;
    }
    table = undefined;
    parts.epilogue.push(line);
  }
  while (parts.epilogue[0] === "") parts.epilogue.shift();
  while (parts.epilogue.at(-1) === "") parts.epilogue.pop();
  return parts;
}

function tableLines(rows: Array<[string, string]>): string[] {
  return rows.flatMap(([name, text]) => [".TP", `.B ${roffName(name)}`, ...(text ? [roffText(text)] : [])]);
}

function preformatted(lines: string[]): string[] {
  return lines.length ? [".nf", ...lines.map((l) => (l === "" ? "" : roffText(l))), ".fi"] : [];
}

/**
 * The man page of `tool` from its `--help` output, and its sub-commands' (`name` → help).
 * @param date the page's date (YYYY-MM-DD)
 * @example
 * declare const helpText: string;
 * manPage("dispatchcopy", "0.1.0", helpText, "2026-12-01"); // ".TH DISPATCHCOPY 1 \"2026-12-01\" ..."
 */
export function manPage(tool: string, version: string, help: string, date: string, seeAlso: readonly string[] = [], subCommands: Readonly<Record<string, string>> = {}): string {
  const main = parseHelp(help);
  const out: string[] = [
    `.TH ${roffText(tool.toUpperCase())} 1 "${date}" "cartkit ${roffText(version)}" "cartkit manual"`,
    ".SH NAME",
    `${roffName(tool)} \\- ${roffText(main.description)}`,
    ".SH SYNOPSIS",
    `.B ${roffName(tool)}`,
    roffText(main.usage.replace(new RegExp(`^${tool.replace(/[^\w-]/g, "")}\\s*`), "") || "[OPTIONS]"),
  ];
  for (const table of main.tables) out.push(`.SH ${table.title}`, ...tableLines(table.rows));
  if (main.epilogue.length) out.push(".SH DESCRIPTION", ...preformatted(main.epilogue));
  for (const [name, text] of Object.entries(subCommands)) {
    const sub = parseHelp(text);
    out.push(`.SH ${roffText(`${tool} ${name}`.toUpperCase())}`, roffText(sub.description));
    if (sub.usage) out.push(".PP", `.B ${roffName(sub.usage.split(" ").slice(0, 2).join(" "))}`, roffText(sub.usage.split(" ").slice(2).join(" ")));
    for (const table of sub.tables) out.push(`.SS ${table.title[0]}${table.title.slice(1).toLowerCase()}`, ...tableLines(table.rows));
    if (sub.epilogue.length) out.push(".PP", ...preformatted(sub.epilogue));
  }
  if (seeAlso.length) out.push(".SH SEE ALSO", seeAlso.map((t) => `.BR ${roffName(t)} (1)`).join(",\n"));
  return `${out.join("\n")}\n`;
}
