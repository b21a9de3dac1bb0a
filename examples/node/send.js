'use strict'
// Sends audit events to a forensic logging sidecar with @mojaloop/forensic-logging-client,
// the client central-ledger used with the original sidecar, unchanged.
//
//   node send.js [--host H] [--port P] [--count N]
const Sidecar = require('@mojaloop/forensic-logging-client')
const crypto = require('crypto')

const args = process.argv.slice(2)
const option = (name, fallback) => {
  const i = args.indexOf(`--${name}`)
  return i >= 0 ? args[i + 1] : fallback
}
const host = option('host', '127.0.0.1')
const port = Number(option('port', 5678))
const count = Number(option('count', 100))

const envelope = (i) => JSON.stringify({
  id: crypto.randomUUID(),
  from: 'dfsp1',
  to: 'dfsp2',
  type: 'application/json',
  content: { transferId: crypto.randomUUID(), amount: { amount: String(10 + i), currency: 'USD' } },
  metadata: {
    event: { id: crypto.randomUUID(), type: 'audit', action: 'commit', createdAt: new Date().toISOString(), state: { status: 'success' } },
    trace: { service: 'central-ledger', traceId: crypto.randomBytes(16).toString('hex'), spanId: crypto.randomBytes(8).toString('hex') }
  }
})

const main = async () => {
  const sidecar = Sidecar.create({ host, port, connectTimeout: 10000, reconnectInterval: 200 })
  await sidecar.connect()
  for (let i = 0; i < count; i++) sidecar.write(envelope(i))
  // The package offers no close: end its socket once everything is flushed.
  await new Promise((resolve) => sidecar._socket.end(resolve))
  console.log(`node example: sent ${count} audit events to ${host}:${port}`)
}

main().then(() => process.exit(0), (err) => {
  console.error(`node example: ${err.message}`)
  process.exit(1)
})
