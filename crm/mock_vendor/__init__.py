"""The mock messaging vendor: a simulated external SMS and e-mail provider, hosted by the API
under /vendor/v1/ only when no real vendor (CRM_VENDOR_URL) is configured.

It behaves as real messaging APIs do. Every message carries an `Idempotency-Key`; the vendor
stores each key in MongoDB (`vendor_messages`, so it survives restarts) before answering, and a
message sent again with a known key is recognised (same vendor id, `duplicate: true`) and never
delivered twice. After a short random delay it posts a signed receipt to its webhook, our
`/api/v1/delivery-receipts`: DELIVERED about 90% of the time, FAILED with a reason otherwise.
Receipts are scheduled in memory and posted in batches of whatever is due (one signed JSON array
per request), at least once: a receipt counts as posted only when the receiver acknowledged it
(2xx). Each poster checkpoints how far it got, and any receipts a stopped or dead poster still
owed are posted by whichever process hosts the vendor next. A sweep backs this up: receipts of
messages whose log row is still SENT a while (CRM_RECEIPT_SWEEP_SECONDS) after they were due are
posted again, whatever became of the first post.
`CRM_VENDOR_FAULT_RATE` makes it answer 503 to a share of requests, to exercise retries.

Like a real vendor it takes messages only from a sender holding its key (`Authorization: Bearer
<vendor key>`: CRM_VENDOR_KEY, or one generated once per data dir, which the dispatcher sends);
anything else is a 401 and nothing is stored. Receipts go only to the receipt endpoint it was
configured with: the hosting process's address (`app.state.public_url`), else CRM_RECEIPT_URL,
else the address of the socket the API listens on. Never to one named by a request's headers
(`Host`, `X-Forwarded-*`), which would let any caller redirect every later receipt.
"""
