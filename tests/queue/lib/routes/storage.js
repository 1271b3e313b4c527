// The emulator's stand-in for S3 and the object service's backend: presigned
// PUT and GET URLs under /__storage/ that it serves itself.  Like S3, a PUT
// must carry the signed Content-Type byte for byte and a real Content-Length,
// may carry Content-Encoding (stored and replayed on GET), and is written
// only once the whole body has arrived, streamed to disk.
//
//   /__storage/s3/<bucket>/<taskId>/<runId>/<name>   (bucket: public|private)
//   /__storage/object/<objectName>
import crypto from 'node:crypto';
import fs from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { Transform } from 'node:stream';

// Each path segment is percent-encoded and "/" kept, as S3 keys appear in URLs.
export const encodeKey = (key) => key.split('/').map(encodeURIComponent).join('/');
const decodeKey = (raw) => raw.split('/').map(decodeURIComponent).join('/');

export class BlobUrls {
  constructor({ secret, rootUrl, clock }) {
    this.secret = secret;
    this.rootUrl = rootUrl;
    this.clock = clock;
  }

  sign(fields) {
    return crypto.createHmac('sha256', this.secret).update(fields.join('\n')).digest('base64url');
  }

  _url(path, method, expires, contentType) {
    const signature = this.sign([method, path, String(expires), contentType]);
    return `${this.rootUrl()}${path}?expires=${expires}&signature=${signature}`;
  }

  s3Put(bucket, key, contentType, expiresMs) {
    return this._url(`/__storage/s3/${bucket}/${encodeKey(key)}`, 'PUT', expiresMs, contentType);
  }

  // Public bucket objects are readable unsigned; private ones get a URL
  // valid 30 minutes, as the Queue presigns them.
  s3Get(bucket, key) {
    const path = `/__storage/s3/${bucket}/${encodeKey(key)}`;
    if (bucket === 'public') {
      return this.rootUrl() + path;
    }
    return this._url(path, 'GET', this.clock.now() + 30 * 60 * 1000, '');
  }

  objectPut(name, contentType, expiresMs) {
    return this._url(`/__storage/object/${encodeKey(name)}`, 'PUT', expiresMs, contentType);
  }

  objectGet(name, expiresMs) {
    return this._url(`/__storage/object/${encodeKey(name)}`, 'GET', expiresMs, '');
  }

  // Checks a request against its signature; returns an error string or null.
  verify(method, path, query, contentType) {
    const expires = Number(query.get('expires'));
    const signature = query.get('signature') || '';
    const expected = this.sign([method, path, query.get('expires') || '', contentType]);
    if (signature.length !== expected.length ||
        !crypto.timingSafeEqual(Buffer.from(signature), Buffer.from(expected))) {
      return 'SignatureDoesNotMatch';
    }
    if (!(expires > this.clock.now())) {
      return 'AccessDenied: Request has expired';
    }
    return null;
  }
}

const xmlError = (res, status, code, message) => {
  const body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code>` +
    `<Message>${message}</Message></Error>\n`;
  res.writeHead(status, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body) });
  res.end(body);
};

// Streams the request body to a temporary file, refusing more bytes than
// `limit`; resolves {tmp, size, sha256} or rejects.
const receive = async (req, tmp, limit) => {
  let size = 0;
  const hash = crypto.createHash('sha256');
  const counter = new Transform({
    transform(chunk, enc, cb) {
      size += chunk.length;
      if (size > limit) {
        cb(new Error('body exceeds the size limit'));
        return;
      }
      hash.update(chunk);
      cb(null, chunk);
    },
  });
  await pipeline(req, counter, fs.createWriteStream(tmp));
  return { size, sha256: hash.digest('hex') };
};

export class StorageRoutes {
  constructor({ store, urls, maxArtifactBytes, log }) {
    this.store = store;
    this.urls = urls;
    this.maxArtifactBytes = maxArtifactBytes;
    this.log = log;
  }

  match(path) {
    return path.startsWith('/__storage/');
  }

  // Locates the record a storage path refers to: for s3 the blob table entry
  // key, for objects the object service record.
  _target(path) {
    let m = /^\/__storage\/s3\/(public|private)\/(.+)$/.exec(path);
    if (m) {
      return { kind: 's3', bucket: m[1], key: decodeKey(m[2]) };
    }
    m = /^\/__storage\/object\/(.+)$/.exec(path);
    if (m) {
      return { kind: 'object', name: decodeKey(m[1]) };
    }
    return null;
  }

  faultKey(method) {
    return method === 'PUT' ? 'upload' : 'download';
  }

  async handle(req, res, path, query) {
    let target;
    try {
      target = this._target(path);
    } catch {
      target = null;
    }
    if (!target) {
      return xmlError(res, 404, 'NoSuchKey', 'The specified key does not exist.');
    }
    if (req.method === 'PUT') {
      return this._put(req, res, path, query, target);
    }
    if (req.method === 'GET' || req.method === 'HEAD') {
      return this._get(req, res, path, query, target);
    }
    return xmlError(res, 405, 'MethodNotAllowed', 'The specified method is not allowed.');
  }

  async _put(req, res, path, query, target) {
    const contentType = req.headers['content-type'] || '';
    const denied = this.urls.verify('PUT', path, query, contentType);
    if (denied) {
      req.resume();
      return xmlError(res, 403, denied.split(':')[0],
        denied === 'SignatureDoesNotMatch'
          ? 'The request signature we calculated does not match the signature you provided ' +
            '(Content-Type must equal the one given to createArtifact/createUpload).'
          : denied);
    }
    const lengthHeader = req.headers['content-length'];
    if (lengthHeader === undefined || !/^[0-9]+$/.test(lengthHeader)) {
      req.resume();
      return xmlError(res, 411, 'MissingContentLength',
        'You must provide the Content-Length HTTP header.');
    }
    const length = Number(lengthHeader);
    if (length > this.maxArtifactBytes) {
      req.resume();
      return xmlError(res, 400, 'EntityTooLarge',
        'Your proposed upload exceeds the maximum allowed size');
    }
    let object;
    if (target.kind === 'object') {
      object = this.store.objects.get(target.name);
      if (!object || object.finished) {
        req.resume();
        return xmlError(res, 403, 'AccessDenied', 'No upload in progress for this object');
      }
    }
    const tmp = this.store.incomingPath();
    let received;
    try {
      received = await receive(req, tmp, length);
    } catch (err) {
      fs.rm(tmp, { force: true }, () => {});
      if (!res.destroyed && !res.headersSent) {
        return xmlError(res, 400, 'IncompleteBody', err.message);
      }
      return undefined;
    }
    if (received.size !== length) {
      fs.rm(tmp, { force: true }, () => {});
      return xmlError(res, 400, 'IncompleteBody',
        'You did not provide the number of bytes specified by the Content-Length HTTP header');
    }
    const blob = {
      id: this.store.commitBlob(tmp),
      size: received.size,
      sha256: received.sha256,
      contentType,
      contentEncoding: req.headers['content-encoding'] || null,
    };
    if (target.kind === 's3') {
      const k = `${target.bucket}/${target.key}`;
      const old = this.store.s3.get(k);
      this.store.s3.set(k, blob);
      if (old) {
        this.store.dropBlob(old.id);
      }
    } else {
      if (object.blob) {
        this.store.dropBlob(object.blob.id);
      }
      object.blob = blob;
    }
    this.store.changed();
    res.writeHead(200, { etag: `"${blob.sha256.slice(0, 32)}"`, 'content-length': 0 });
    res.end();
    return undefined;
  }

  async _get(req, res, path, query, target) {
    let blob;
    if (target.kind === 's3') {
      if (target.bucket === 'private') {
        const denied = this.urls.verify('GET', path, query, '');
        if (denied) {
          return xmlError(res, 403, 'AccessDenied', denied);
        }
      }
      blob = this.store.s3.get(`${target.bucket}/${target.key}`);
    } else {
      const denied = this.urls.verify('GET', path, query, '');
      if (denied) {
        return xmlError(res, 403, 'AccessDenied', denied);
      }
      const object = this.store.objects.get(target.name);
      blob = object && object.finished ? object.blob : null;
    }
    if (!blob) {
      return xmlError(res, 404, 'NoSuchKey', 'The specified key does not exist.');
    }
    const headers = {
      'content-type': blob.contentType || 'application/octet-stream',
      'content-length': blob.size,
      etag: `"${blob.sha256.slice(0, 32)}"`,
    };
    if (blob.contentEncoding && blob.contentEncoding !== 'identity') {
      headers['content-encoding'] = blob.contentEncoding;
    }
    res.writeHead(200, headers);
    if (req.method === 'HEAD') {
      res.end();
      return undefined;
    }
    try {
      await pipeline(fs.createReadStream(this.store.blobPath(blob.id)), res);
    } catch (err) {
      this.log(`storage: GET ${path}: ${err.message}`);
    }
    return undefined;
  }
}
