// Offline Flux check: parse + type-check Flux sources with the flux-lsp-browser WASM.
//
// stdin:  JSON object {name: fluxSource, ...}
// stdout: JSON object {name: [errorMessage, ...], ...} (errors only; warnings and hints dropped)
// The npm build targets bundlers (it imports the .wasm as an ES module), so the glue is loaded
// with that import swapped for a setter and the WASM is instantiated here.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";

const require = createRequire(import.meta.url);
const pkgDir = dirname(require.resolve("@influxdata/flux-lsp-browser/package.json"));

const WASM_IMPORT = "import * as wasm from './flux-lsp-browser_bg.wasm';";
const MEMORY_INIT = /\ncachedInt32Memory0 = new Int32Array\(wasm\.memory\.buffer\);\ncachedUint8Memory0 = new Uint8Array\(wasm\.memory\.buffer\);\s*$/;

async function loadGlue() {
  let src = readFileSync(join(pkgDir, "flux-lsp-browser_bg.js"), "utf8");
  if (!src.includes(WASM_IMPORT) || !MEMORY_INIT.test(src)) {
    throw new Error("unexpected flux-lsp-browser glue layout (is the pinned 0.8.40 installed?)");
  }
  src = src.replace(WASM_IMPORT, "let wasm;").replace(MEMORY_INIT, "\n") +
    "\nexport function __setWasm(exports) {\n  wasm = exports;\n" +
    "  cachedInt32Memory0 = new Int32Array(wasm.memory.buffer);\n" +
    "  cachedUint8Memory0 = new Uint8Array(wasm.memory.buffer);\n}\n";
  const glue = await import("data:text/javascript;base64," + Buffer.from(src).toString("base64"));
  const module = new WebAssembly.Module(readFileSync(join(pkgDir, "flux-lsp-browser_bg.wasm")));
  const instance = new WebAssembly.Instance(module, { "./flux-lsp-browser_bg.js": glue });
  glue.__setWasm(instance.exports);
  return glue;
}

const ERROR = 1; // LSP DiagnosticSeverity.Error

// The WASM logs through console.*; stdout is reserved for the JSON result.
for (const level of ["log", "info", "debug", "warn"]) console[level] = () => {};

async function check(sources) {
  const glue = await loadGlue();
  const lsp = new glue.Lsp();
  const diagnostics = new Map(); // uri -> latest diagnostics
  let lastMessage = Date.now();
  lsp.onMessage((raw) => {
    const msg = typeof raw === "string" ? JSON.parse(raw) : raw;
    if (msg.method === "textDocument/publishDiagnostics") {
      diagnostics.set(msg.params.uri, msg.params.diagnostics);
      lastMessage = Date.now();
    }
  });
  lsp.run();
  let id = 0;
  const request = (method, params) =>
    lsp.send(JSON.stringify({ jsonrpc: "2.0", id: ++id, method, params }));
  const notify = (method, params) => lsp.send(JSON.stringify({ jsonrpc: "2.0", method, params }));

  await request("initialize", { processId: null, rootUri: null, capabilities: {} });
  await notify("initialized", {});
  const names = Object.keys(sources);
  // One directory per file: files in one directory would form one Flux package.
  const uris = names.map((_, i) => `file:///check/${i}/main.flux`);
  for (const [i, name] of names.entries()) {
    await notify("textDocument/didOpen", {
      textDocument: { uri: uris[i], languageId: "flux", version: 1, text: sources[name] },
    });
  }
  const deadline = Date.now() + 60000;
  // Wait for every file, then a short quiet period in case a file is published twice.
  while (uris.some((u) => !diagnostics.has(u)) || Date.now() - lastMessage < 20) {
    if (Date.now() > deadline) throw new Error("timed out waiting for diagnostics");
    await new Promise((r) => setTimeout(r, 5));
  }
  const result = {};
  for (const [i, name] of names.entries()) {
    result[name] = diagnostics.get(uris[i])
      .filter((d) => d.severity === ERROR)
      .map((d) => `${d.range.start.line + 1}:${d.range.start.character + 1}: ${d.message}`);
  }
  return result;
}

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const out = await check(JSON.parse(Buffer.concat(chunks).toString("utf8") || "{}"));
process.stdout.write(JSON.stringify(out) + "\n");
process.exit(0);
