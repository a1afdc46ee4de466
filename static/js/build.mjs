// Builds the snippet: static/js/src/main.js -> widget_server/assets/t.js, one minified
// IIFE with no runtime dependencies, which the server answers at GET /t.js. esbuild
// bundles (whitespace and syntax minified); terser then compresses in two passes and
// renames, which gzips about 260 bytes smaller than esbuild alone: room the 8 KB
// budget needs. terser reuses short names in inner scopes, so the global object's
// alias `W` (src/util.js) is kept out of its renaming: nothing ever shadows it, and
// tests/collect/test_snippet.py can tell every global the snippet sets.
//
//     scripts/build-js                  (npm ci, then this)
//     node static/js/build.mjs [--entry FILE] [--outfile FILE]
//
// The output's first line is `/*! tarry <hash> */`: the first 12 hex digits of a
// SHA-256 over every file under the entry's directory (static/js/src/), taken in
// order of their relative paths ("/"-separated), each as path, a NUL byte, then
// its bytes. tests/collect/test_snippet.py computes the same hash in Python to tell,
// without Node, whether the committed build is older than the sources.
// --entry and --outfile are for trying the build elsewhere; the defaults are the
// real thing.

import { createHash } from "node:crypto";
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";

import * as esbuild from "esbuild";
import { minify } from "terser";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "..", "..");

function option(name, fallback) {
  const at = process.argv.indexOf(name);
  if (at === -1) return fallback;
  const value = process.argv[at + 1];
  if (!value) throw new Error(`${name} needs a value`);
  return path.resolve(value);
}

const entry = option("--entry", path.join(here, "src", "main.js"));
const outfile = option("--outfile", path.join(root, "widget_server", "assets", "t.js"));
const sourceDir = path.dirname(entry);

function listFiles(dir, prefix = "") {
  const found = [];
  for (const name of readdirSync(dir)) {
    const full = path.join(dir, name);
    const relative = prefix ? `${prefix}/${name}` : name;
    if (statSync(full).isDirectory()) found.push(...listFiles(full, relative));
    else found.push(relative);
  }
  return found;
}

// Sorted by the paths' UTF-8 bytes, as Python's sorted() sorts their code points.
function sourceHash(dir) {
  const files = listFiles(dir).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  const hash = createHash("sha256");
  for (const file of files) {
    hash.update(Buffer.from(file, "utf8"));
    hash.update(Buffer.from([0]));
    hash.update(readFileSync(path.join(dir, file)));
  }
  return hash.digest("hex").slice(0, 12);
}

try {
  statSync(entry);
} catch {
  console.error(`build-js: no entry file ${path.relative(process.cwd(), entry) || entry}`);
  process.exit(1);
}

const banner = `/*! tarry ${sourceHash(sourceDir)} */`;
mkdirSync(path.dirname(outfile), { recursive: true });
const bundled = await esbuild.build({
  entryPoints: [entry],
  bundle: true,
  write: false,
  format: "iife",
  platform: "browser",
  target: ["es2019"],
  minifyWhitespace: true,
  minifySyntax: true,
  sourcemap: false,
  legalComments: "none",
  logLevel: "warning",
});
const squeezed = await minify(bundled.outputFiles[0].text, {
  ecma: 2019,
  compress: { passes: 2 },
  mangle: { reserved: ["W"] },
  format: { preamble: banner, comments: false },
});
if (!/[,{ ]W=window[,;]/.test(squeezed.code)) {
  console.error("build-js: src/util.js's `W = window` did not survive as `W`; see above");
  process.exit(1);
}
writeFileSync(outfile, squeezed.code + "\n");

const built = readFileSync(outfile);
const gzipped = gzipSync(built, { level: 9 }).length;
console.log(
  `${path.relative(process.cwd(), outfile)}: ${built.length} bytes, ` +
    `${gzipped} gzipped (budget 8192), ${banner}`,
);
