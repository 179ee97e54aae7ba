#!/usr/bin/env bun
/**
 * Packages for this machine's platform, into dist/packages/ (or --out DIR):
 *
 *   cartkit-<version>-linux-x64.tar.gz   bin/ (with xxh32sum etc. -> xxsum), README.md, LICENSE,
 *                                        completions/{bash,zsh,fish}/, man/man1/
 *   cartkit_<version>_amd64.deb          /usr/bin, /usr/lib/cartkit/bin/xxh32sum etc. -> ../../../bin/xxsum,
 *                                        completions where bash, zsh and fish look, man pages
 *   SHA256SUMS                           sha256 of both (lib/hash), for `sha256sum -c`
 *   cartkit-<version>.b3                 BLAKE3 of all three, made by the b3sum-ts just built
 *
 * Shell completions come from each tool's citty definitions (the tool prints them when run with
 * CARTKIT_COMMAND_SPEC=1), man pages from each tool's --help. Timestamps are the last commit's
 * (or $SOURCE_DATE_EPOCH), owners root, so the same tree packs to the same bytes.
 *
 *   bun scripts/package.ts [--no-build] [--out DIR]
 */
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { bashCompletion, fishCompletion, zshCompletion, type CommandSpec } from "../lib/cli/completions.ts";
import { manPage } from "../lib/cli/manpage.ts";
import { VERSION } from "../lib/core/version.ts";
import { hashPath } from "../lib/hash/mod.ts";
import { escapeName } from "../lib/sums/escape.ts";
import { formatGnuLine } from "../lib/sums/lines.ts";

const root = join(import.meta.dir, "..");
const args = process.argv.slice(2);
const outAt = args.indexOf("--out");
const out = outAt >= 0 && args[outAt + 1] ? args[outAt + 1]! : join(root, "dist", "packages");
const ARCH: Record<string, string> = { x64: "amd64", arm64: "arm64" };
const platform = `${process.platform}-${process.arch}`;

function say(line: string): void {
  process.stderr.write(`package: ${line}\n`);
}

function run(cmd: string[], options: { cwd?: string; env?: Record<string, string>; stdin?: Uint8Array } = {}): string {
  const proc = Bun.spawnSync({ cmd, cwd: options.cwd ?? root, env: { ...process.env, NO_COLOR: "1", ...options.env }, stdin: options.stdin ?? "ignore", stdout: "pipe", stderr: "pipe" });
  if (proc.exitCode !== 0) throw new Error(`${cmd.join(" ")} exited ${proc.exitCode}: ${proc.stderr.toString().trim()}`);
  return proc.stdout.toString();
}

if (!args.includes("--no-build")) run([process.execPath, join(root, "scripts", "build.ts")]);
const tools = readdirSync(join(root, "tools"))
  .filter((f) => f.endsWith(".ts"))
  .map((f) => f.slice(0, -3))
  .sort();
for (const tool of tools) statSync(join(root, "dist", tool));
const epoch = Number(
  process.env.SOURCE_DATE_EPOCH ??
    (() => {
      try {
        return run(["git", "log", "-1", "--format=%ct"]).trim();
      } catch {
        return String(Math.floor(Date.now() / 1000));
      }
    })(),
);
const date = new Date(epoch * 1000).toISOString().slice(0, 10);
const description = (JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { description: string }).description;

/** What each tool says of itself: its man page and its completions. */
const made = tools.map((tool) => {
  const binary = join(root, "dist", tool);
  const help = run([binary, "--help"]);
  const spec = JSON.parse(run([binary], { env: { CARTKIT_COMMAND_SPEC: "1" } })) as CommandSpec;
  const subHelps = Object.fromEntries(spec.commands.map((c) => [c.name, run([binary, c.name, "--help"])]));
  return {
    tool,
    man: manPage(
      tool,
      VERSION,
      help,
      date,
      tools.filter((t) => t !== tool),
      subHelps,
    ),
    bash: bashCompletion(spec, VERSION),
    zsh: zshCompletion(spec, VERSION),
    fish: fishCompletion(spec, VERSION),
  };
});

/**
 * Names xxsum answers to as xxhsum does (tools/xxsum.ts reads the name it was called by). In the
 * tarball they sit next to xxsum in bin/. Debian's xxhash package owns /usr/bin/xxh32sum,
 * xxh64sum and xxh128sum, so dpkg would refuse the .deb where xxhash is installed (and xxhash
 * where cartkit is): the .deb keeps them in /usr/lib/cartkit/bin, for a PATH that wants them.
 */
const XXSUM_NAMES = ["xxh32sum", "xxh64sum", "xxh128sum", "xxh3sum"];
const XXSUM_LINKS_DIR = join("usr", "lib", "cartkit", "bin");

function put(path: string, content: string | Uint8Array, mode = 0o644): void {
  mkdirSync(join(path, ".."), { recursive: true });
  writeFileSync(path, content);
  chmodSync(path, mode);
}

const stage = mkdtempSync(join(tmpdir(), "cartkit-package-"));
try {
  mkdirSync(out, { recursive: true });
  const artifacts: string[] = [];

  // The tarball.
  const name = `cartkit-${VERSION}-${platform}`;
  const tree = join(stage, name);
  for (const m of made) {
    mkdirSync(join(tree, "bin"), { recursive: true });
    copyFileSync(join(root, "dist", m.tool), join(tree, "bin", m.tool));
    chmodSync(join(tree, "bin", m.tool), 0o755);
    put(join(tree, "completions", "bash", m.tool), m.bash);
    put(join(tree, "completions", "zsh", `_${m.tool}`), m.zsh);
    put(join(tree, "completions", "fish", `${m.tool}.fish`), m.fish);
    put(join(tree, "man", "man1", `${m.tool}.1`), m.man);
  }
  for (const link of XXSUM_NAMES) symlinkSync("xxsum", join(tree, "bin", link));
  for (const file of ["README.md", "LICENSE"]) put(join(tree, file), readFileSync(join(root, file)));
  const tarball = `${name}.tar.gz`;
  run(["tar", "--sort=name", "--owner=0", "--group=0", "--numeric-owner", `--mtime=@${epoch}`, "--use-compress-program=gzip -n -3", "-cf", join(out, tarball), "-C", stage, name]);
  artifacts.push(tarball);
  say(`${join(out, tarball)}`);

  // The Debian package.
  const arch = ARCH[process.arch];
  if (process.platform === "linux" && arch && Bun.which("dpkg-deb")) {
    const deb = join(stage, "deb");
    for (const m of made) {
      mkdirSync(join(deb, "usr", "bin"), { recursive: true });
      copyFileSync(join(root, "dist", m.tool), join(deb, "usr", "bin", m.tool));
      chmodSync(join(deb, "usr", "bin", m.tool), 0o755);
      put(join(deb, "usr", "share", "bash-completion", "completions", m.tool), m.bash);
      put(join(deb, "usr", "share", "zsh", "vendor-completions", `_${m.tool}`), m.zsh);
      put(join(deb, "usr", "share", "fish", "vendor_completions.d", `${m.tool}.fish`), m.fish);
      put(join(deb, "usr", "share", "man", "man1", `${m.tool}.1.gz`), gzipSync(m.man, { level: 9 }));
    }
    mkdirSync(join(deb, XXSUM_LINKS_DIR), { recursive: true });
    // Relative, as Debian policy asks of a link within one top-level folder (/usr).
    for (const link of XXSUM_NAMES) symlinkSync(join("..", "..", "..", "bin", "xxsum"), join(deb, XXSUM_LINKS_DIR, link));
    put(
      join(deb, "usr", "share", "doc", "cartkit", "copyright"),
      `Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: cartkit

Files: *
Copyright: cartkit contributors
License: MIT
${readFileSync(join(root, "LICENSE"), "utf8")
  .split("\n")
  .slice(2)
  .map((l) => (l === "" ? " ." : ` ${l}`))
  .join("\n")
  .replace(/(\n \.)+$/, "")}
`,
    );
    put(join(deb, "usr", "share", "doc", "cartkit", "README.md.gz"), gzipSync(readFileSync(join(root, "README.md")), { level: 9 }));
    const kib = Math.ceil(Number(run(["du", "-s", "--block-size=1024", join(deb, "usr")]).split("\t")[0]));
    put(
      join(deb, "DEBIAN", "control"),
      `Package: cartkit
Version: ${VERSION}
Architecture: ${arch}
Maintainer: cartkit contributors
Installed-Size: ${kib}
Depends: libc6
Suggests: ffmpeg, chromium, prometheus-node-exporter
Section: utils
Priority: optional
Description: ${description}
 b3sum-ts, xxsum, dispatchcopy, mhl-verify, ltfs-pack and tc-extract: hash, copy and
 verify camera cards to several drives with ASC MHL histories, offload jobs with a
 queue, metrics and printable reports, LTFS tapes, and timecode-accurate extraction.
`,
    );
    for (const dir of run(["find", deb, "-type", "d"]).trim().split("\n")) chmodSync(dir, 0o755);
    const debName = `cartkit_${VERSION}_${arch}.deb`;
    run(["dpkg-deb", "--root-owner-group", "-Zgzip", "-z3", "--build", deb, join(out, debName)], { env: { SOURCE_DATE_EPOCH: String(epoch) } });
    artifacts.push(debName);
    say(join(out, debName));
  } else {
    say(`no .deb: ${process.platform}/${process.arch} ${Bun.which("dpkg-deb") ? "has no Debian architecture here" : "has no dpkg-deb"}`);
  }

  // Digests: SHA256SUMS (lib/hash, GNU lines), then a BLAKE3 manifest of everything by b3sum-ts.
  let sums = "";
  for (const artifact of artifacts) sums += formatGnuLine((await hashPath(join(out, artifact), ["sha256"])).hexes.get("sha256")!, escapeName(artifact));
  writeFileSync(join(out, "SHA256SUMS"), sums);
  const b3 = run([join(root, "dist", "b3sum-ts"), ...artifacts, "SHA256SUMS"], { cwd: out });
  writeFileSync(join(out, `cartkit-${VERSION}.b3`), b3);
  say(`${join(out, "SHA256SUMS")}, ${join(out, `cartkit-${VERSION}.b3`)}`);
} finally {
  rmSync(stage, { recursive: true, force: true });
}
