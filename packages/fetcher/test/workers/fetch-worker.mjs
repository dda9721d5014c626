// A separate process fetching one image: argv = bundle dataDir localConfig systemConfig discoveryPort imageString.
// Prints one JSON line with the result or the error code.
const [bundle, dataDir, localConfigDir, systemConfigDir, port, image] = process.argv.slice(2);
const { fetchImage, openStore } = await import(bundle);
const lookup = (_h, options, cb) => (options.all ? cb(null, [{ address: '127.0.0.1', family: 4 }]) : cb(null, '127.0.0.1', 4));
try {
  const store = await openStore({ dir: dataDir });
  const r = await fetchImage(image, { store, localConfigDir, systemConfigDir, network: { lookup, discoveryPort: Number(port) } });
  process.stdout.write(`${JSON.stringify({ ok: true, id: r.id, downloaded: r.downloaded })}\n`);
} catch (err) {
  process.stdout.write(`${JSON.stringify({ ok: false, code: err.code, message: err.message })}\n`);
  process.exitCode = 1;
}
