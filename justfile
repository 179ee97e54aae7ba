# cartkit recipes; the same as the npm scripts in package.json, plus the day's jobs.
set positional-arguments

bun := "node_modules/.bin/bun"

# Install dependencies exactly as locked.
setup:
    npm ci

# Compile every tool into dist/.
build:
    {{bun}} scripts/build.ts

# Build, then run every test (unit, interop with the native tools, compiled binaries).
test: build
    {{bun}} test --timeout 120000

# Benchmarks against the native tools; writes the table for BENCHMARKS.md.
bench *ARGS:
    {{bun}} bench/hash.ts {{ARGS}}

# The main job on built-in sample data.
demo:
    {{bun}} scripts/demo.ts

# Packages for this machine: cartkit-<version>-linux-x64.tar.gz, cartkit_<version>_amd64.deb, SHA256SUMS and a BLAKE3 manifest, in dist/packages/.
package: build
    {{bun}} scripts/package.ts --no-build

# The README's screenshot of an offload report (docs/report.png), made again.
screenshot:
    {{bun}} scripts/report-screenshot.ts

# Type-check everything, lint, and compile every JSDoc @example (as CI does).
check:
    npm run check

# Reformat every file with Biome (biome.jsonc).
format:
    npm run format

# Compiles the tools once, when dist/ is not there yet.
_dist:
    @[ -x dist/ltfs-pack ] || {{bun}} scripts/build.ts

# Offload a card to every destination (xxh128 in flight, each copy read back, an ASC MHL each), then prove each with its MHL.
offload CARD +DESTS: _dist
    dist/dispatchcopy -r -t xxh128 "$@"
    shift; for dest in "$@"; do dist/mhl-verify verify "$dest"; done

# Plan a project onto tapes (LTO-9 unless TAPE says otherwise), write each to a virtual tape PREFIX0001… under TAPES, verify each, and catalog them.
archive PROJECT TAPES PREFIX="PX" TAPE="LTO-9": _dist
    #!/usr/bin/env bash
    set -euo pipefail
    mkdir -p "$2"
    plan="$2/plan.json"
    dist/ltfs-pack plan "$1" --tape "$4" --json > "$plan"
    count=$(node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).tapes.length)' "$plan")
    serials=()
    for i in $(seq 1 "$count"); do
      serial=$(printf '%s%04d' "$3" "$i")
      dist/ltfs-pack write "$plan" --tape "$i" --vtape "$2/$serial" --serial "$serial"
      dist/ltfs-pack verify --vtape "$2/$serial"
      serials+=("$2/$serial")
    done
    dist/ltfs-pack catalog "${serials[@]}" -o "$2/catalog" --force
