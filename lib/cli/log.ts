/**
 * Human diagnostics of the tools that are not byte-for-byte drop-ins (ltfs-pack, cartserve,
 * cartvault…), through consola: levels (`--quiet` keeps errors and warnings, `--verbose` and
 * `CARTKIT_DEBUG=1` add debug lines), colour only on a terminal, plain `tool: message` lines in
 * pipes and CI. Lines go through the tool's {@link Output}, so they stay in order with its data
 * on stdout. The drop-ins (b3sum-ts, xxsum, dispatchcopy's INFO lines, mhl-verify's ascmhl
 * lines) keep their anchors' exact formats and do not use this.
 */
import { createConsola, type ConsolaInstance, type LogObject } from "consola";
import { colors } from "consola/utils";
import type { LineSink } from "../core/sink.ts";

/** Options of {@link toolLog}. */
export interface ToolLogOptions {
  /** Where the lines go (stderr, in order with stdout). */
  output: LineSink;
  /** Errors and warnings only. */
  quiet?: boolean;
  /** Debug lines too (also with `CARTKIT_DEBUG=1`). */
  verbose?: boolean;
  /** @default stderr is a terminal and NO_COLOR is not set */
  color?: boolean;
}

/** consola's levels: 0 error, 1 warn, 3 info, 4 debug. */
const LEVEL = { quiet: 1, normal: 3, debug: 4 } as const;

function text(object: LogObject): string {
  return object.args.map((arg) => (arg instanceof Error ? (process.env.CARTKIT_DEBUG ? (arg.stack ?? arg.message) : arg.message) : String(arg))).join(" ");
}

/**
 * The log of a tool run: `log.error(…)`, `log.warn(…)`, `log.info(…)`, `log.debug(…)`, each one
 * line `tool: message` (coloured by level on a terminal).
 * @example
 * import { Output } from "./output.ts";
 * const out = new Output();
 * const log = toolLog("cartserve", { output: out, quiet: false });
 * log.info("serving 2 sources");
 */
export function toolLog(tool: string, options: ToolLogOptions): ConsolaInstance {
  const color = options.color ?? (Boolean(process.stderr.isTTY) && !process.env.NO_COLOR);
  const level = options.quiet ? LEVEL.quiet : options.verbose || process.env.CARTKIT_DEBUG ? LEVEL.debug : LEVEL.normal;
  return createConsola({
    level,
    reporters: [
      {
        log: (object) => {
          const message = text(object);
          if (!color) {
            options.output.error(`${tool}: ${message}`);
            return;
          }
          const paint = object.type === "error" || object.type === "fatal" ? colors.red : object.type === "warn" ? colors.yellow : object.type === "debug" ? colors.gray : (s: string) => s;
          options.output.error(`${colors.bold(`${tool}:`)} ${paint(message)}`);
        },
      },
    ],
  });
}
