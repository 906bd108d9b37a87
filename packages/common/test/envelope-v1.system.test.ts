import t from 'tap';
import fc from 'fast-check';
import { constants, createCipheriv, createHmac, publicEncrypt, randomBytes, createPublicKey } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import { type V1KeyPair, decodeRsaPublicKey, generateV1KeyPair, openV1, sealV1 } from '../src/envelope-v1.js';
import { MAX_RESPONSE_BYTES } from '../src/limits.js';
import type { Result } from '../src/errors.js';
import { runPython, runPythonJson } from './fixtures/python.js';
import { sampleConnectionInfo, sampleKernelId, resultCode, attemptCode } from './fixtures/samples.js';

// Gateway Provisioners' servers use 1024-bit keys; 2048 is our default.
const KEY_SIZES = [1024, 2048] as const;
const keys = new Map<number, V1KeyPair>(await Promise.all(KEY_SIZES.map(async (bits) => [bits, await generateV1KeyPair(bits)] as const)));
function keyOf(bits: number): V1KeyPair {
  const k = keys.get(bits);
  if (k === undefined) throw new Error(`no ${bits}-bit key`);
  return k;
}

/** Connection JSON as GP's launcher sends it: connection info plus pid, pgid, comm_port and kernel_id. */
function gpConnInfo(): Record<string, unknown> {
  return { ...sampleConnectionInfo(), pid: 4242, pgid: 4242, comm_port: 40999, kernel_id: sampleKernelId() };
}

const codeOf = (r: Result<unknown>): string => resultCode(r, 'opened');
const attempt = (open: () => Result<unknown>): string => attemptCode(open);

interface Outer {
  version: number;
  key: string;
  conn_info: string;
}

function decodeOuter(payload: string): Outer {
  return JSON.parse(Buffer.from(payload, 'base64').toString('utf8')) as Outer;
}

function encodeOuter(outer: Outer): string {
  return Buffer.from(JSON.stringify(outer)).toString('base64');
}

/** The payload with byte `at` of the base64 field `field` XOR-ed with `mask`. */
function flipInField(payload: string, field: 'key' | 'conn_info', at: number, mask = 0x01): string {
  const outer = decodeOuter(payload);
  const bytes = Buffer.from(outer[field], 'base64');
  const i = at < 0 ? bytes.length + at : at;
  bytes[i] = bytes[i]! ^ mask;
  return encodeOuter({ ...outer, [field]: bytes.toString('base64') });
}

function aesEncrypt(key: Buffer, plaintext: string): Buffer {
  const cipher = createCipheriv('aes-128-ecb', key, null);
  return Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
}

/** A raw RSA block `0x00 0x02 PS 0x00 M` with a non-zero random PS, before any defect is applied. */
function pkcs1Block(modulusBytes: number, message: Buffer): Buffer {
  const ps = randomBytes(modulusBytes - 3 - message.length).map((b) => (b === 0 ? 1 : b));
  return Buffer.concat([Buffer.from([0, 2]), ps, Buffer.from([0]), message]);
}

/** A payload whose RSA part is `block` encrypted raw (no padding added) and whose AES part is `info` under `aesKey`. */
function rawPayload(
  keyPair: V1KeyPair,
  block: Buffer,
  aesKey: Buffer,
  info: Record<string, unknown>,
): { payload: string; encryptedKey: Buffer } {
  const publicKey = createPublicKey(keyPair.privateKey);
  const encryptedKey = publicEncrypt({ key: publicKey, padding: constants.RSA_NO_PADDING }, block);
  const payload = encodeOuter({
    version: 1,
    key: encryptedKey.toString('base64'),
    conn_info: aesEncrypt(aesKey, JSON.stringify(info)).toString('base64'),
  });
  return { payload, encryptedKey };
}

for (const bits of KEY_SIZES) {
  t.test(`a payload sealed with sealV1 opens with openV1 (${bits}-bit key)`, async (t) => {
    const keyPair = keyOf(bits);
    const info = gpConnInfo();
    const publicKey = decodeRsaPublicKey(keyPair.publicKeyBase64);
    t.ok(publicKey, 'the published public key decodes');
    const opened = openV1(sealV1(info, publicKey!), keyPair);
    t.equal(codeOf(opened), 'opened');
    if (opened.ok) t.same(opened.value, info);
  });
}

t.test('opens a payload given as bytes with a trailing newline', async (t) => {
  const keyPair = keyOf(1024);
  const info = gpConnInfo();
  const opened = openV1(Buffer.from(`${sealV1(info, decodeRsaPublicKey(keyPair.publicKeyBase64)!)}\n`), keyPair);
  t.equal(codeOf(opened), 'opened');
  if (opened.ok) t.same(opened.value, info);
});

t.test('sealV1 builds the payload shape of Gateway Provisioners launchers', async (t) => {
  const keyPair = keyOf(2048);
  const payload = sealV1(gpConnInfo(), decodeRsaPublicKey(keyPair.publicKeyBase64)!);
  t.match(payload, /^[A-Za-z0-9+/]+={0,2}$/);
  const outer = decodeOuter(payload) as unknown as Record<string, unknown>;
  t.same(Object.keys(outer).sort(), ['conn_info', 'key', 'version']);
  t.equal(outer.version, 1);
  t.equal(Buffer.from(outer.key as string, 'base64').length, 2048 / 8, 'the RSA part is one modulus-sized block');
  t.equal(Buffer.from(outer.conn_info as string, 'base64').length % 16, 0, 'the AES part is whole blocks');
});

t.test('decodeRsaPublicKey accepts a PEM body with line breaks and refuses non-RSA and garbage keys', async (t) => {
  const keyPair = keyOf(1024);
  const pem = createPublicKey(keyPair.privateKey).export({ format: 'pem', type: 'spki' }).toString();
  t.ok(decodeRsaPublicKey(pem), 'full PEM');
  t.ok(decodeRsaPublicKey(keyPair.publicKeyBase64.replace(/(.{64})/g, '$1\n')), 'wrapped base64 body');
  t.equal(decodeRsaPublicKey(randomBytes(32).toString('base64')), undefined, 'an X25519-sized key is not RSA');
  t.equal(decodeRsaPublicKey('not a key!'), undefined);
});

t.test('random connection objects round-trip through sealV1 and openV1 (property)', async (t) => {
  const keyPair = keyOf(1024);
  const publicKey = decodeRsaPublicKey(keyPair.publicKeyBase64)!;
  fc.assert(
    fc.property(fc.dictionary(fc.string({ unit: 'binary', maxLength: 20 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 12 }), (info) => {
      const expected = JSON.parse(JSON.stringify(info)) as unknown; // what JSON can carry (-0 becomes 0)
      const opened = openV1(sealV1(info, publicKey), keyPair);
      return opened.ok && isDeepStrictEqual(opened.value, expected);
    }),
    { numRuns: 100 },
  );
  t.pass('property held');
});

for (const bits of KEY_SIZES) {
  t.test(`opens a payload that pycryptodome built as GP launchers do (${bits}-bit key)`, async (t) => {
    const keyPair = keyOf(bits);
    const info = gpConnInfo();
    const payload = await runPython('gp_v1.py', ['seal'], JSON.stringify({ public_key: keyPair.publicKeyBase64, conn_info: info }));
    const opened = openV1(payload, keyPair);
    t.equal(codeOf(opened), 'opened');
    if (opened.ok) t.same(opened.value, info);
  });

  t.test(`pycryptodome decodes a sealV1 payload made with its own ${bits}-bit key as GP's ResponseManager does`, async (t) => {
    const python = await runPythonJson<{ public_key: string; private_key: string }>('gp_v1.py', ['keygen', String(bits)], {});
    const publicKey = decodeRsaPublicKey(python.public_key);
    t.ok(publicKey, "Python's SPKI base64 decodes");
    t.equal(publicKey?.asymmetricKeyDetails?.modulusLength, bits);
    const info = gpConnInfo();
    const decoded = await runPythonJson<unknown>('gp_v1.py', ['open'], {
      private_key: python.private_key,
      payload: sealV1(info, publicKey!),
    });
    t.same(decoded, info);
  });
}

t.test('refuses a payload with a flipped byte in the RSA part', async (t) => {
  for (const bits of KEY_SIZES) {
    const keyPair = keyOf(bits);
    const payload = sealV1(gpConnInfo(), decodeRsaPublicKey(keyPair.publicKeyBase64)!);
    t.equal(
      attempt(() => openV1(payload, keyPair)),
      'opened',
      `${bits}: untouched`,
    );
    for (const at of [0, 1, 17, bits / 16, -17, -1]) {
      for (const mask of [0x01, 0x80]) {
        t.equal(
          attempt(() => openV1(flipInField(payload, 'key', at, mask), keyPair)),
          'GL_ERR_V1_DECRYPT_FAILED',
          `${bits}: byte ${at} ^ ${mask}`,
        );
      }
    }
  }
});

t.test('refuses a payload with a flipped byte in the AES part', async (t) => {
  // ECB has no integrity check: a flip garbles one 16-byte block. The first
  // block holds the start of the JSON and the last one the padding, so a
  // change there cannot go unnoticed.
  const keyPair = keyOf(1024);
  const payload = sealV1(gpConnInfo(), decodeRsaPublicKey(keyPair.publicKeyBase64)!);
  for (const at of [0, 7, 15, -16, -2, -1]) {
    t.equal(
      attempt(() => openV1(flipInField(payload, 'conn_info', at), keyPair)),
      'GL_ERR_V1_DECRYPT_FAILED',
      `AES byte ${at}`,
    );
  }
});

t.test('refuses a payload opened with another key pair', async (t) => {
  const payload = sealV1(gpConnInfo(), decodeRsaPublicKey(keyOf(1024).publicKeyBase64)!);
  const sameSize = await generateV1KeyPair(1024);
  t.equal(
    attempt(() => openV1(payload, sameSize)),
    'GL_ERR_V1_DECRYPT_FAILED',
    'another 1024-bit key',
  );
  t.equal(
    attempt(() => openV1(payload, keyOf(2048))),
    'GL_ERR_V1_DECRYPT_FAILED',
    'a key of another size',
  );
});

t.test('refuses a payload truncated at any length', async (t) => {
  const keyPair = keyOf(1024);
  const payload = sealV1(gpConnInfo(), decodeRsaPublicKey(keyPair.publicKeyBase64)!);
  const wrong: string[] = [];
  // Dropping only '=' padding loses no data, so the cuts stop before it.
  const dataLength = payload.replace(/=+$/, '').length;
  t.ok(dataLength > 100);
  for (let length = 0; length < dataLength; length++) {
    const code = attempt(() => openV1(payload.slice(0, length), keyPair));
    if (!['GL_ERR_ENVELOPE_MALFORMED', 'GL_ERR_V1_DECRYPT_FAILED'].includes(code)) wrong.push(`${length}: ${code}`);
  }
  t.same(wrong, []);
});

t.test('refuses a payload whose RSA or AES part is truncated', async (t) => {
  const keyPair = keyOf(1024);
  const outer = decodeOuter(sealV1(gpConnInfo(), decodeRsaPublicKey(keyPair.publicKeyBase64)!));
  const cut = (b64: string, drop: number) => {
    const bytes = Buffer.from(b64, 'base64');
    return bytes.subarray(0, bytes.length - drop).toString('base64');
  };
  t.equal(
    attempt(() => openV1(encodeOuter({ ...outer, key: cut(outer.key, 1) }), keyPair)),
    'GL_ERR_V1_DECRYPT_FAILED',
    'RSA part one byte short',
  );
  t.equal(
    attempt(() => openV1(encodeOuter({ ...outer, conn_info: cut(outer.conn_info, 16) }), keyPair)),
    'GL_ERR_V1_DECRYPT_FAILED',
    'AES part one block short',
  );
  t.equal(
    attempt(() => openV1(encodeOuter({ ...outer, conn_info: cut(outer.conn_info, 1) }), keyPair)),
    'GL_ERR_V1_DECRYPT_FAILED',
    'AES part not whole blocks',
  );
  t.equal(
    attempt(() => openV1(encodeOuter({ ...outer, conn_info: '' }), keyPair)),
    'GL_ERR_V1_DECRYPT_FAILED',
    'empty AES part',
  );
});

t.test('refuses text that is not base64, or base64 of something other than the payload object', async (t) => {
  const keyPair = keyOf(1024);
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  for (const input of ['', 'not base64!', '{"version":1}', '====', b64('not json'), b64('null'), b64('"text"')]) {
    t.equal(
      attempt(() => openV1(input, keyPair)),
      'GL_ERR_ENVELOPE_MALFORMED',
      JSON.stringify(input),
    );
  }
  t.equal(
    attempt(() => openV1(b64('{"version":1,"key":5,"conn_info":"AAAA"}'), keyPair)),
    'GL_ERR_ENVELOPE_MALFORMED',
    'key not a string',
  );
  t.equal(
    attempt(() => openV1(b64('{"version":1,"key":"AAAA"}'), keyPair)),
    'GL_ERR_ENVELOPE_MALFORMED',
    'conn_info missing',
  );
});

t.test('refuses a payload of another version', async (t) => {
  const keyPair = keyOf(1024);
  const outer = decodeOuter(sealV1(gpConnInfo(), decodeRsaPublicKey(keyPair.publicKeyBase64)!));
  for (const version of [0, 2, '1', null]) {
    t.equal(
      attempt(() => openV1(encodeOuter({ ...outer, version: version as number }), keyPair)),
      'GL_ERR_ENVELOPE_VERSION',
      JSON.stringify(version),
    );
  }
});

t.test('refuses an oversize payload before decoding it', async (t) => {
  const keyPair = keyOf(1024);
  t.equal(
    attempt(() => openV1('A'.repeat(MAX_RESPONSE_BYTES + 4), keyPair)),
    'GL_ERR_ENVELOPE_TOO_LARGE',
  );
  t.equal(
    attempt(() => openV1(Buffer.alloc(MAX_RESPONSE_BYTES + 4, 0x41), keyPair)),
    'GL_ERR_ENVELOPE_TOO_LARGE',
  );
});

t.test('a ciphertext with invalid RSA padding fails exactly like one with valid padding and wrong AES content', async (t) => {
  const keyPair = keyOf(1024);
  const n = 1024 / 8;
  const info = gpConnInfo();
  const realKey = randomBytes(16);
  // Valid PKCS#1 v1.5 padding around a 16-byte key, AES part under another key.
  const wrongContent = rawPayload(keyPair, pkcs1Block(n, realKey), randomBytes(16), info).payload;
  // A block type 1 (signature padding) in place of type 2, AES part under the key it carries.
  const badBlock = pkcs1Block(n, realKey);
  badBlock[1] = 1;
  const badPadding = rawPayload(keyPair, badBlock, realKey, info).payload;
  const a = openV1(wrongContent, keyPair);
  const b = openV1(badPadding, keyPair);
  t.equal(codeOf(a), 'GL_ERR_V1_DECRYPT_FAILED');
  t.equal(codeOf(b), 'GL_ERR_V1_DECRYPT_FAILED');
  if (!a.ok && !b.ok) t.same(b.error.toJSON(), a.error.toJSON(), 'same code, message and details');
});

t.test('invalid RSA padding leads to the AES step with a key derived from the ciphertext (implicit rejection)', async (t) => {
  // White-box: an attacker cannot compute the derived key without the key pair's
  // rejection secret; the test can, and so shows that each malformed block takes
  // the same path as a well-formed one instead of failing early.
  const keyPair = keyOf(1024);
  const n = 1024 / 8;
  const info = gpConnInfo();
  const defects: Array<[string, (message: Buffer) => Buffer]> = [
    [
      'block type 1',
      (m) => {
        const b = pkcs1Block(n, m);
        b[1] = 1;
        return b;
      },
    ],
    [
      'leading byte not zero',
      (m) => {
        const b = pkcs1Block(n, m);
        b[0] = 1;
        return b;
      },
    ],
    [
      'no zero separator',
      (m) => {
        const b = pkcs1Block(n, m);
        b[n - 17] = 0xaa;
        return b;
      },
    ],
    ['17-byte message', (m) => pkcs1Block(n, Buffer.concat([Buffer.from([7]), m]))],
    [
      '15-byte message',
      (m) => {
        const b = pkcs1Block(n, m.subarray(1));
        return b;
      },
    ],
    [
      'zero inside the padding string',
      (m) => {
        const b = pkcs1Block(n, m);
        b[5] = 0;
        return b;
      },
    ],
  ];
  for (const [name, make] of defects) {
    const message = Buffer.from(randomBytes(16).map((x) => (x === 0 ? 1 : x))); // no zero byte that could act as a separator
    const block = make(message);
    t.equal(block.length, n, `${name}: block is modulus-sized`);
    const tail = block.subarray(n - 16);
    const asIs = rawPayload(keyPair, block, tail, info).payload;
    t.equal(codeOf(openV1(asIs, keyPair)), 'GL_ERR_V1_DECRYPT_FAILED', `${name}: the block's last 16 bytes are not used as the key`);
    const encryptedKey = Buffer.from(decodeOuter(asIs).key, 'base64');
    const derived = createHmac('sha256', keyPair.rejectionSecret).update(encryptedKey).digest().subarray(0, 16);
    const underDerived = encodeOuter({ ...decodeOuter(asIs), conn_info: aesEncrypt(derived, JSON.stringify(info)).toString('base64') });
    const opened = openV1(underDerived, keyPair);
    t.equal(codeOf(opened), 'opened', `${name}: decrypts with the derived key`);
  }
  const good = pkcs1Block(n, randomBytes(16));
  t.equal(
    codeOf(openV1(rawPayload(keyPair, good, good.subarray(n - 16), info).payload, keyPair)),
    'opened',
    'a well-formed block yields its own key',
  );
});

t.test('a payload with any byte replaced never makes openV1 throw (property)', async (t) => {
  // v1 has no integrity check (ECB, no MAC): a change inside a middle AES block
  // can still decrypt to JSON, so the property is "a result, never a throw".
  const keyPair = keyOf(1024);
  const payload = sealV1(gpConnInfo(), decodeRsaPublicKey(keyPair.publicKeyBase64)!);
  fc.assert(
    fc.property(fc.nat(), fc.integer({ min: 1, max: 255 }), (index, delta) => {
      const bytes = Buffer.from(payload);
      const at = index % bytes.length;
      bytes[at] = (bytes[at]! + delta) & 0xff;
      const code = attempt(() => openV1(bytes, keyPair));
      return code === 'opened' || code.startsWith('GL_ERR_');
    }),
    { numRuns: 300 },
  );
  t.pass('property held');
});
