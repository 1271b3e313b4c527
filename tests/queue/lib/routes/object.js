// Handlers for the object service methods an artifact upload and download
// use: createUpload (dataInline or putUrl), finishUpload, startDownload
// (simple or getUrl), object metadata and the download redirect.
import { ApiError } from '../errors.js';

const ok = (body) => ({ status: 200, body });
const HOUR = 60 * 60 * 1000;
const iso = (v) => new Date(v).toJSON();

// Merges newly reported hashes into the known ones; a different value for an
// algorithm already recorded is a conflict.
const mergeHashes = (known, given = {}) => {
  for (const [alg, value] of Object.entries(given)) {
    if (alg in known && known[alg] !== value) {
      throw new ApiError('RequestConflict', 'Object hashes conflict for algorithm {{alg}}', { alg });
    }
    known[alg] = value;
  }
};

export const objectHandlers = ({ store, urls, clock, startedAt }) => {
  const getObject = (name) => {
    const object = store.objects.get(name);
    if (!object || !object.finished || Date.parse(object.expires) < clock.now()) {
      throw new ApiError('ResourceNotFound', 'Object not found', {});
    }
    return object;
  };

  return {
    ping: async () => ok({ alive: true, uptime: (Date.now() - startedAt) / 1000 }),

    createUpload: async (ctx) => {
      const check = await ctx.authorizer();
      const { name } = ctx.params;
      const { projectId, uploadId, expires, proposedUploadMethods, hashes } = ctx.body;
      check({ projectId, name });
      let object = store.objects.get(name);
      if (object && object.uploadId !== uploadId) {
        throw new ApiError('RequestConflict',
          'Object {{name}} already exists with a different uploadId', { name });
      }
      if (object && (object.projectId !== projectId ||
          Date.parse(object.expires) !== Date.parse(expires))) {
        throw new ApiError('RequestConflict',
          'Object {{name}} already exists with a different projectId or expires', { name });
      }
      if (object && object.finished) {
        throw new ApiError('RequestConflict', 'Upload of object {{name}} is already finished',
          { name });
      }
      if (!object) {
        object = { name, projectId, uploadId, expires: iso(expires), hashes: {},
          finished: false, blob: null };
        store.objects.set(name, object);
      }
      mergeHashes(object.hashes, hashes);

      let uploadMethod = {};
      const methods = proposedUploadMethods;
      if (methods.dataInline) {
        const data = Buffer.from(methods.dataInline.objectData, 'base64');
        if (object.blob) {
          store.dropBlob(object.blob.id);
        }
        object.blob = { ...store.writeBlob(data), contentType: methods.dataInline.contentType,
          contentEncoding: null };
        uploadMethod = { dataInline: true };
      } else if (methods.putUrl) {
        const urlExpires = Math.min(clock.now() + HOUR, Date.parse(object.expires));
        const { contentType, contentLength } = methods.putUrl;
        uploadMethod = {
          putUrl: {
            url: urls.objectPut(name, contentType, urlExpires),
            expires: iso(urlExpires),
            headers: {
              'Content-Type': contentType,
              'Content-Length': String(contentLength),
              'Content-Encoding': 'identity',
            },
          },
        };
      }
      store.changed();
      return ok({ projectId, uploadId, expires: object.expires, uploadMethod });
    },

    finishUpload: async (ctx) => {
      const check = await ctx.authorizer();
      const { name } = ctx.params;
      const { projectId, uploadId, hashes } = ctx.body;
      check({ projectId, name });
      const object = store.objects.get(name);
      if (!object) {
        throw new ApiError('ResourceNotFound', 'Object not found', {});
      }
      if (object.uploadId !== uploadId || object.projectId !== projectId) {
        if (object.finished) {
          throw new ApiError('RequestConflict', 'Object {{name}} was uploaded with another uploadId',
            { name });
        }
        throw new ApiError('RequestConflict', 'uploadId or projectId does not match the upload', {});
      }
      mergeHashes(object.hashes, hashes);
      object.finished = true;
      store.changed();
      return ok({});
    },

    startDownload: async (ctx) => {
      const { name } = ctx.params;
      const accept = ctx.body.acceptDownloadMethods || {};
      const object = getObject(name);
      const expires = clock.now() + HOUR;
      if (accept.getUrl) {
        return ok({ method: 'getUrl', url: urls.objectGet(name, expires), expires: iso(expires),
          hashes: { ...object.hashes } });
      }
      if (accept.simple) {
        return ok({ method: 'simple', url: urls.objectGet(name, expires) });
      }
      throw new ApiError('NoMatchingMethod', 'No suitable download method is available', {});
    },

    object: async (ctx) => {
      const object = getObject(ctx.params.name);
      return ok({ projectId: object.projectId, expires: object.expires,
        hashes: { ...object.hashes } });
    },

    download: async (ctx) => {
      getObject(ctx.params.name);
      const url = urls.objectGet(ctx.params.name, clock.now() + HOUR);
      return { status: 303, headers: { location: url }, body: { method: 'simple', url },
        skipValidation: true };
    },
  };
};
