// dist/vendor/nats.cjs: the NATS client bundled into one CommonJS file, for the CLI to load through a V8 code
// cache (src/vendored.ts) when an event bus is configured. @rkt/controller/nats uses only `connect`.
export { connect } from '@nats-io/transport-node';
