/**
 * The offload report as PDF, printed by Chromium (headless, `--print-to-pdf`) from the HTML
 * page: the page needs nothing from the network and has no script, so Chromium runs with both
 * turned off, in a profile folder of its own that is removed afterwards.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { writeFileAtomically } from "../io/atomic_file.ts";

/** Program names looked for on PATH, in this order. */
export const CHROMIUM_NAMES = ["chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome"];

const MAC_APPS = ["/Applications/Chromium.app/Contents/MacOS/Chromium", "/Applications/Google Chrome.app/Contents/MacOS/Google Chrome"];

/** Chromium or Chrome: `$CHROMIUM`, then PATH, then the usual macOS places; undefined when none. */
export function findChromium(env: Record<string, string | undefined> = process.env): string | undefined {
  if (env.CHROMIUM) return existsSync(env.CHROMIUM) ? env.CHROMIUM : undefined;
  for (const program of CHROMIUM_NAMES) {
    const found = Bun.which(program, { PATH: env.PATH ?? "" });
    if (found) return found;
  }
  return MAC_APPS.find((path) => existsSync(path));
}

/** Flags for a headless run that touches nothing outside its own profile. */
export function headlessFlags(profile: string): string[] {
  return ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-extensions", `--user-data-dir=${profile}`];
}

/**
 * Prints `html` to a PDF at `output` (written atomically: a reader never sees half of it).
 * @throws an Error saying what Chromium printed when it fails.
 */
export async function printPdf(html: string, output: string, chromium: string, timeoutMs = 300_000): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "cartkit-report-"));
  try {
    const page = join(dir, "report.html");
    const pdf = join(dir, "report.pdf");
    writeFileSync(page, html);
    const proc = Bun.spawn({
      cmd: [chromium, ...headlessFlags(join(dir, "profile")), "--no-pdf-header-footer", "--print-to-pdf-no-header", `--print-to-pdf=${pdf}`, `file://${page}`],
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
      timeout: timeoutMs,
    });
    const [stderr, code] = await Promise.all([new Response(proc.stderr).text(), proc.exited, new Response(proc.stdout).text()]);
    const bytes = existsSync(pdf) ? readFileSync(pdf) : undefined;
    if (code !== 0 || !bytes || bytes.subarray(0, 5).toString("latin1") !== "%PDF-") {
      const last =
        stderr
          .trim()
          .split("\n")
          .filter((l) => !/^\[\d+:\d+:/.test(l) || /ERROR|FATAL/.test(l))
          .pop() ?? "";
      throw new Error(`Chromium (${chromium}) did not print it (exit ${proc.signalCode ?? code})${last ? `: ${last}` : ""}`);
    }
    writeFileAtomically(output, bytes, { overwrite: true });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
