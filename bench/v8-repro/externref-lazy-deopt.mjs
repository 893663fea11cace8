// Node 20 (V8 11.3) aborts with "unreachable code" in Deoptimizer::DoComputeBuiltinContinuation.
// Run: node bench/v8-repro/externref-lazy-deopt.mjs  (aborts in under a second on Node 20.20.2)
// Passes with: node --no-turbo-inline-js-wasm-calls bench/v8-repro/externref-lazy-deopt.mjs
//
// The shape of a wasm-bindgen library such as @cedar-policy/cedar-wasm: a wasm export that takes and
// returns a JS value (externref), whose answer is built in JS (JSON.parse) while the wasm call is on
// the stack. TurboFan inlines the JS-to-Wasm call into the hot caller; when the answer takes a new
// shape, the caller's code is lazily deoptimized inside that call, and the deoptimizer cannot rebuild
// an externref result.

// (module
//   (import "env" "answer" (func $answer (param externref) (result externref)))
//   (func (export "decide") (param externref) (result externref) (call $answer (local.get 0))))
const wasm = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x06, 0x01, 0x60, 0x01, 0x6f, 0x01, 0x6f, 0x02, 0x0e,
  0x01, 0x03, 0x65, 0x6e, 0x76, 0x06, 0x61, 0x6e, 0x73, 0x77, 0x65, 0x72, 0x00, 0x00, 0x03, 0x02, 0x01, 0x00,
  0x07, 0x0a, 0x01, 0x06, 0x64, 0x65, 0x63, 0x69, 0x64, 0x65, 0x00, 0x01, 0x0a, 0x08, 0x01, 0x06, 0x00, 0x20,
  0x00, 0x10, 0x00, 0x0b,
]);
const ITERATIONS = 100_000;
let calls = 0;
// The last answer's `response` has one more field than all the earlier ones: a new shape.
const answer = () =>
  JSON.parse(++calls < ITERATIONS ? '{"response":{"decision":1}}' : '{"response":{"decision":1,"errors":0}}');
const { decide } = new WebAssembly.Instance(new WebAssembly.Module(wasm), { env: { answer } }).exports;

function evaluate(request) {
  return decide(request).response.decision;
}

let sum = 0;
for (let i = 0; i < ITERATIONS; i++) sum += evaluate(i);
console.log(`survived ${ITERATIONS} calls (sum ${sum})`);
