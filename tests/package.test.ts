/**
 * Packages: shell completions made from the tools' citty definitions load and complete in
 * bash, zsh and fish; man pages made from --help render without a groff warning; `scripts/
 * package.ts` (what `just package` and `npm run package` run) makes the tarball, the .deb,
 * SHA256SUMS and a BLAKE3 manifest that sha256sum and b3sum accept; the .deb installs with
 * dpkg, every tool answers --version from PATH, a completion loads in bash, and it removes
 * cleanly (as root, as CI runs). Both carry the links xxsum answers to as xxhsum does
 * (xxh32sum, xxh64sum, xxh128sum, xxh3sum): bin/ in the tarball, /usr/lib/cartkit/bin in the
 * .deb (Debian's xxhash owns /usr/bin/xxh32sum…), and each hashes as `xxhsum -H#` does.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { bashCompletion, fishCompletion, zshCompletion, type CommandSpec } from "../lib/cli/completions.ts";
import { manPage, roffText } from "../lib/cli/manpage.ts";
import { VERSION } from "../lib/core/version.ts";
import { anchor, BUN, IS_ROOT, ROOT, run, tempDir, type RunResult } from "./helpers.ts";

const TOOLS = readdirSync(join(ROOT, "tools"))
  .filter((f) => f.endsWith(".ts"))
  .map((f) => f.slice(0, -3))
  .sort();
const dist = (tool: string) => join(ROOT, "dist", tool);
/** The names xxsum is linked under in the packages, and the xxhsum algorithm each one means. */
const XXSUM_LINKS = [
  ["xxh32sum", "0"],
  ["xxh64sum", "1"],
  ["xxh128sum", "2"],
  ["xxh3sum", "3"],
] as const;

/**
 * Each link hashes a file as the real `xxhsum -H#` does (run by the command given, in a folder
 * of its own so the name in the line is the same), exit 0 and nothing on stderr.
 */
function linksHashAsXxhsum(command: (link: string) => string[]): void {
  const xxhsum = anchor("xxhsum");
  if (!xxhsum) return;
  const dir = tempDir("cartkit-xxlinks-");
  writeFileSync(join(dir, "A001C003.mov"), "frames\n".repeat(1000));
  for (const [link, hash] of XXSUM_LINKS) {
    const want = run([xxhsum, `-H${hash}`, "A001C003.mov"], { cwd: dir });
    expect(want.code).toBe(0);
    const got = run([...command(link), "A001C003.mov"], { cwd: dir });
    expect([link, got.code, got.stdout, got.stderr]).toEqual([link, 0, want.stdout, ""]);
  }
}

function specOf(tool: string): CommandSpec {
  const r = run([dist(tool)], { env: { CARTKIT_COMMAND_SPEC: "1" } });
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout) as CommandSpec;
}

/** What bash completes for the words (the last one is being typed), with the script sourced. */
function bashCompletes(script: string, fn: string, words: string[], cwd: string): string[] {
  const quoted = words.map((w) => `'${w.replace(/'/g, `'\\''`)}'`).join(" ");
  const r = run(["bash", "-c", `source '${script}'; COMP_WORDS=(${quoted}); COMP_CWORD=${words.length - 1}; ${fn}; printf '%s\\n' "\${COMPREPLY[@]}"`], { cwd });
  expect(r.stderr).toBe("");
  return r.stdout.split("\n").filter(Boolean).sort();
}

describe("completions and man pages from the tools' own definitions", () => {
  test("bash: every tool's script loads, completes options, sub-commands, and files where a file is asked for", () => {
    const dir = tempDir("cartkit-complete-");
    writeFileSync(join(dir, "report.html"), "");
    mkdirSync(join(dir, "RAID"));
    for (const tool of TOOLS) {
      const path = join(dir, `${tool}.bash`);
      writeFileSync(path, bashCompletion(specOf(tool), VERSION));
      expect(run(["bash", "-n", path]).code).toBe(0);
      expect(run(["bash", "-c", `source '${path}' && complete -p ${tool}`]).stdout).toBe(`complete -o bashdefault -o filenames -F _cartkit_${tool.replace(/-/g, "_")} ${tool}\n`);
    }
    const dc = join(dir, "dispatchcopy.bash");
    expect(bashCompletes(dc, "_cartkit_dispatchcopy", ["dispatchcopy", "--re"], dir)).toEqual(["--recursive", "--rename", "--report", "--resume"]);
    expect(bashCompletes(dc, "_cartkit_dispatchcopy", ["dispatchcopy", "--report", "rep"], dir)).toEqual(["report.html"]);
    expect(bashCompletes(dc, "_cartkit_dispatchcopy", ["dispatchcopy", "--state-dir", ""], dir)).toEqual(["RAID"]);
    expect(bashCompletes(dc, "_cartkit_dispatchcopy", ["dispatchcopy", "--jobs", ""], dir)).toEqual([]);
    expect(bashCompletes(dc, "_cartkit_dispatchcopy", ["dispatchcopy", "-r", "R"], dir)).toEqual(["RAID"]);
    expect(bashCompletes(dc, "_cartkit_dispatchcopy", ["dispatchcopy", "jobs", ""], dir)).toEqual(["cancel", "prune", "resume", "show"]);
    expect(bashCompletes(dc, "_cartkit_dispatchcopy", ["dispatchcopy", "jobs", "prune", "--"], dir)).toEqual(["--help", "--older-than", "--state-dir"]);
    const lp = join(dir, "ltfs-pack.bash");
    expect(bashCompletes(lp, "_cartkit_ltfs_pack", ["ltfs-pack", ""], dir)).toEqual(["catalog", "index", "plan", "verify", "write"]);
    expect(bashCompletes(lp, "_cartkit_ltfs_pack", ["ltfs-pack", "plan", "--t"], dir)).toEqual(["--tape"]);
  });

  test("zsh and fish: every tool's script parses; fish completes as bash does; zsh registers it", () => {
    const zsh = anchor("zsh");
    const fish = anchor("fish");
    if (!zsh || !fish) return;
    const dir = tempDir("cartkit-complete-");
    mkdirSync(join(dir, "zsh"));
    for (const tool of TOOLS) {
      const spec = specOf(tool);
      writeFileSync(join(dir, "zsh", `_${tool}`), zshCompletion(spec, VERSION));
      writeFileSync(join(dir, `${tool}.fish`), fishCompletion(spec, VERSION));
      expect(run([zsh, "-n", join(dir, "zsh", `_${tool}`)]).code).toBe(0);
      expect(run([fish, "-n", join(dir, `${tool}.fish`)]).code).toBe(0);
    }
    const registered = run([zsh, "-f", "-c", `fpath=('${join(dir, "zsh")}' $fpath); autoload -Uz compinit; compinit -u -D; print -r -- $_comps[dispatchcopy] $_comps[ltfs-pack]; autoload -Uz _dispatchcopy; whence -w _dispatchcopy`]);
    expect([registered.stdout, registered.stderr]).toEqual(["_dispatchcopy _ltfs-pack\n_dispatchcopy: function\n", ""]);
    const complete = (words: string) =>
      run([fish, "-c", `source '${join(dir, "dispatchcopy.fish")}'; complete -C'${words}'`])
        .stdout.split("\n")
        .filter(Boolean)
        .map((l) => l.split("\t")[0])
        .sort();
    expect(complete("dispatchcopy --re")).toEqual(["--recursive", "--rename", "--report", "--resume"]);
    expect(complete("dispatchcopy jobs ")).toEqual(["cancel", "prune", "resume", "show"]);
    expect(complete("dispatchcopy jobs prune --")).toEqual(["--help", "--older-than", "--state-dir"]);
  });

  test("man pages: made from --help (sub-commands too), rendered by groff without a warning", () => {
    const dir = tempDir("cartkit-man-");
    for (const tool of TOOLS) {
      const spec = specOf(tool);
      const help = run([dist(tool), "--help"]).stdout;
      const subs = Object.fromEntries(spec.commands.map((c) => [c.name, run([dist(tool), c.name, "--help"]).stdout]));
      writeFileSync(
        join(dir, `${tool}.1`),
        manPage(
          tool,
          VERSION,
          help,
          "2026-12-01",
          TOOLS.filter((t) => t !== tool),
          subs,
        ),
      );
      const checked = run(["groff", "-man", "-Tutf8", "-ww", "-z", join(dir, `${tool}.1`)]);
      expect({ tool, code: checked.code, warnings: checked.stderr }).toEqual({ tool, code: 0, warnings: "" });
      const shown = run(["man", "-l", join(dir, `${tool}.1`)], { env: { MANWIDTH: "250" } }).stdout.replace(/.\x08/g, "");
      expect(shown).toContain(`NAME\n       ${tool} - ${spec.description}\n`);
      for (const o of spec.options.filter((x) => x.long !== "help" && x.long !== "version")) expect(shown).toContain(`--${o.long}`);
      expect(/[^\x00-\x7e]/.test(readFileSync(join(dir, `${tool}.1`), "utf8"))).toBe(false);
    }
    const dc = readFileSync(join(dir, "dispatchcopy.1"), "utf8");
    expect(dc).toContain(".SH DISPATCHCOPY JOBS\n");
    expect(dc).toContain(".B \\-\\-older\\-than=<AGE>\n");
    // A line of the epilogue that starts with a quote would be a roff request: guarded.
    expect(dc).toContain("\n\\&'dispatchcopy jobs --help'); --queue waits");
    expect(roffText("café → .x\\y")).toBe("caf\\[u00E9] \\[u2192] .x\\ey");
    expect(roffText(".TH x")).toBe("\\&.TH x");
  });
});

describe("packages", () => {
  const out = tempDir("cartkit-packages-");
  // Made once, by whichever test needs them first.
  let made: RunResult | undefined;
  const packaged = () => (made ??= run([BUN, join(ROOT, "scripts", "package.ts"), "--no-build", "--out", out], { env: { SOURCE_DATE_EPOCH: "1796169600" } }));
  const tarball = `cartkit-${VERSION}-linux-x64.tar.gz`;
  const deb = `cartkit_${VERSION}_amd64.deb`;

  test("just package and npm run package run scripts/package.ts: a tarball, a .deb, SHA256SUMS and a .b3 manifest that sha256sum and b3sum accept", () => {
    const made = packaged();
    expect([made.code, made.stderr]).toEqual([0, `package: ${join(out, tarball)}\npackage: ${join(out, deb)}\npackage: ${join(out, "SHA256SUMS")}, ${join(out, `cartkit-${VERSION}.b3`)}\n`]);
    expect(run([join(ROOT, "node_modules", ".bin", "just"), "--show", "package"]).stdout).toContain("scripts/package.ts --no-build");
    expect((JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { scripts: Record<string, string> }).scripts.package).toBe("bun run build && bun scripts/package.ts --no-build");
    expect(readdirSync(out).sort()).toEqual(["SHA256SUMS", tarball, `cartkit-${VERSION}.b3`, deb].sort());
    const sha = run(["sha256sum", "-c", "SHA256SUMS"], { cwd: out });
    expect([sha.code, sha.stdout]).toEqual([0, `${tarball}: OK\n${deb}: OK\n`]);
    const b3sum = anchor("b3sum");
    if (b3sum) {
      const b3 = run([b3sum, "-c", `cartkit-${VERSION}.b3`], { cwd: out });
      expect([b3.code, b3.stdout]).toEqual([0, `${tarball}: OK\n${deb}: OK\nSHA256SUMS: OK\n`]);
    }
    const listing = run(["tar", "-tzvf", join(out, tarball)])
      .stdout.trim()
      .split("\n");
    const names = listing.map((l) => l.split(/\s+/).slice(5).join(" ")).sort();
    const top = `cartkit-${VERSION}-linux-x64`;
    expect(names).toEqual(
      [
        `${top}/`,
        `${top}/LICENSE`,
        `${top}/README.md`,
        `${top}/bin/`,
        ...TOOLS.map((t) => `${top}/bin/${t}`),
        ...XXSUM_LINKS.map(([link]) => `${top}/bin/${link} -> xxsum`),
        `${top}/completions/`,
        `${top}/completions/bash/`,
        ...TOOLS.map((t) => `${top}/completions/bash/${t}`),
        `${top}/completions/fish/`,
        ...TOOLS.map((t) => `${top}/completions/fish/${t}.fish`),
        `${top}/completions/zsh/`,
        ...TOOLS.map((t) => `${top}/completions/zsh/_${t}`),
        `${top}/man/`,
        `${top}/man/man1/`,
        ...TOOLS.map((t) => `${top}/man/man1/${t}.1`),
      ].sort(),
    );
    for (const line of listing) expect(line).toMatch(/^([-d]rw[-x]r-[-x]r-[-x]|lrwxrwxrwx) 0\/0 .* 2026-12-0[12] \d\d:\d\d /);
    // Unpacked, the links are relative symbolic links to xxsum beside them, and hash as xxhsum does.
    const unpacked = tempDir("cartkit-tarball-");
    const members = ["xxsum", ...XXSUM_LINKS.map(([link]) => link)].map((t) => `${top}/bin/${t}`);
    expect(run(["tar", "-xzf", join(out, tarball), "-C", unpacked, ...members]).code).toBe(0);
    for (const [link] of XXSUM_LINKS) expect(readlinkSync(join(unpacked, top, "bin", link))).toBe("xxsum");
    linksHashAsXxhsum((link) => [join(unpacked, top, "bin", link)]);
    expect(run(["tar", "-xzOf", join(out, tarball), `${top}/LICENSE`]).stdout).toBe(readFileSync(join(ROOT, "LICENSE"), "utf8"));
    expect(readFileSync(join(ROOT, "LICENSE"), "utf8")).toStartWith("MIT License\n\nCopyright (c) 2026 cartkit contributors\n");
    const fields = (name: string) => run(["dpkg-deb", "-f", join(out, deb), name]).stdout.trim();
    expect(["Package", "Version", "Architecture", "Depends"].map(fields)).toEqual(["cartkit", VERSION, "amd64", "libc6"]);
    const contents = run(["dpkg-deb", "-c", join(out, deb)]).stdout;
    for (const t of TOOLS) {
      expect(contents).toMatch(new RegExp(`^-rwxr-xr-x root/root .* \\./usr/bin/${t}$`, "m"));
      for (const path of [`usr/share/bash-completion/completions/${t}`, `usr/share/zsh/vendor-completions/_${t}`, `usr/share/fish/vendor_completions.d/${t}.fish`, `usr/share/man/man1/${t}.1.gz`]) expect(contents).toContain(`./${path}\n`);
    }
    expect(contents).toContain("./usr/share/doc/cartkit/copyright\n");
    // Not in /usr/bin, where Debian's xxhash has xxh32sum, xxh64sum and xxh128sum.
    for (const [link] of XXSUM_LINKS) {
      expect(contents).toMatch(new RegExp(`^lrwxrwxrwx root/root +0 .* \\./usr/lib/cartkit/bin/${link} -> \\.\\./\\.\\./\\.\\./bin/xxsum$`, "m"));
      expect(contents).not.toContain(`./usr/bin/${link}`);
    }
  }, 600_000);

  // Installs into the running system: CI runs as root; elsewhere only as root and when cartkit is not installed already.
  const installable = IS_ROOT && Bun.which("dpkg") !== null && run(["dpkg", "-s", "cartkit"]).code !== 0;
  if (!installable && process.env.CI === "true") throw new Error("CI must install the .deb (root, dpkg, cartkit not installed)");
  afterAll(() => {
    if (installable && run(["dpkg", "-s", "cartkit"]).code === 0) run(["dpkg", "-r", "cartkit"]);
  });

  test.skipIf(!installable)(
    "the .deb installs with dpkg (beside Debian's xxhash); every tool answers --version from PATH; the xxh*sum links hash as xxhsum; its completion loads in bash; man finds its page; it removes cleanly",
    () => {
      expect(packaged().code).toBe(0);
      // Where xxhash is installed (as here and in CI), the .deb must install beside it.
      const xxhashOwns = run(["dpkg", "-S", "/usr/bin/xxh32sum"]).stdout;
      if (anchor("xxhsum")) expect(xxhashOwns).toBe("xxhash: /usr/bin/xxh32sum\n");
      const installed = run(["dpkg", "-i", join(out, deb)]);
      expect([installed.code, installed.stderr]).toEqual([0, ""]);
      const home = tempDir("cartkit-installed-");
      for (const tool of TOOLS) {
        // xxsum prints its version on stderr, as xxhsum does.
        const version = run(["env", "-i", "PATH=/usr/bin:/bin", `HOME=${home}`, tool, "--version"], { cwd: home });
        expect([tool, version.code, version.stdout + version.stderr]).toEqual([tool, 0, `${tool} ${VERSION}\n`]);
      }
      // biome-ignore lint/suspicious/noTemplateCurlyInString: ${COMPREPLY[*]} is for bash
      const bash = run(["bash", "-c", "source /usr/share/bash-completion/completions/dispatchcopy && complete -p dispatchcopy && COMP_WORDS=(dispatchcopy jobs ''); COMP_CWORD=2; _cartkit_dispatchcopy; echo \"${COMPREPLY[*]}\""]);
      expect([bash.code, bash.stdout, bash.stderr]).toEqual([0, "complete -o bashdefault -o filenames -F _cartkit_dispatchcopy dispatchcopy\nshow cancel resume prune\n", ""]);
      expect(run(["man", "-w", "dispatchcopy"]).stdout).toBe("/usr/share/man/man1/dispatchcopy.1.gz\n");
      expect(run(["dpkg", "-L", "cartkit"]).stdout).toContain("/usr/bin/dispatchcopy\n");
      for (const [link] of XXSUM_LINKS) expect(readlinkSync(`/usr/lib/cartkit/bin/${link}`)).toBe("../../../bin/xxsum");
      linksHashAsXxhsum((link) => [`/usr/lib/cartkit/bin/${link}`]);
      // As the README puts them on PATH: ahead of /usr/bin, so they win over xxhash's.
      linksHashAsXxhsum((link) => ["env", "PATH=/usr/lib/cartkit/bin:/usr/bin:/bin", link]);
      if (xxhashOwns) expect(readlinkSync("/usr/bin/xxh32sum")).toBe("xxhsum");
      const removed = run(["dpkg", "-r", "cartkit"]);
      expect(removed.code).toBe(0);
      expect(existsSync("/usr/lib/cartkit")).toBe(false);
      for (const tool of TOOLS) expect(existsSync(`/usr/bin/${tool}`)).toBe(false);
      expect(existsSync("/usr/share/bash-completion/completions/dispatchcopy")).toBe(false);
      expect(run(["dpkg", "-s", "cartkit"]).code).not.toBe(0);
    },
    600_000,
  );
});
