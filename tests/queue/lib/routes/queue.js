// Handlers for the Queue API methods the emulator implements.  Each receives
// the router's context (params, query, body, authorizer) and returns
// {status, body, headers}; the router validates the body against the
// method's output schema.
import { ApiError } from '../errors.js';
import { PRIORITIES, artifactObjectName } from '../queue.js';
import { createTemporaryCredentials } from '../hawk.js';

const ok = (body) => ({ status: 200, body });

export const queueHandlers = ({ queue, store, urls, clock, waiters, pollMs, startedAt }) => {
  const runIdOf = (ctx) => parseInt(ctx.params.runId, 10);

  // The 303 (or 424) reply for getArtifact and getLatestArtifact.
  const download = (taskId, runId, artifact) => {
    const headers = { 'x-taskcluster-artifact-storage-type': artifact.storageType };
    let url;
    switch (artifact.storageType) {
      case 's3':
        url = urls.s3Get(artifact.details.bucket, artifact.details.prefix);
        break;
      case 'reference':
        url = artifact.details.url;
        break;
      case 'object': {
        const object = store.objects.get(artifactObjectName(taskId, runId, artifact.name));
        if (!object || !object.finished) {
          throw new ApiError('ResourceNotFound', 'Object does not exist.', {});
        }
        url = urls.objectGet(object.name, clock.now() + 30 * 60 * 1000);
        break;
      }
      case 'error':
        // Not the usual error shape, and not validated: the real Queue sends
        // this body directly.
        return { status: 424, headers, body: { reason: artifact.details.reason,
          message: artifact.details.message }, skipValidation: true };
      default:
        throw new Error(`unknown storageType ${artifact.storageType}`);
    }
    headers.location = url;
    return { status: 303, headers, body: { storageType: artifact.storageType, url } };
  };

  // The 200 reply of artifact / latestArtifact.
  const content = (taskId, runId, artifact) => {
    switch (artifact.storageType) {
      case 's3':
        return ok({ storageType: 's3',
          url: urls.s3Get(artifact.details.bucket, artifact.details.prefix) });
      case 'reference':
        return ok({ storageType: 'reference', url: artifact.details.url });
      case 'error':
        return ok({ storageType: 'error', reason: artifact.details.reason,
          message: artifact.details.message });
      case 'object': {
        const name = artifactObjectName(taskId, runId, artifact.name);
        const now = clock.now();
        return ok({
          storageType: 'object',
          name,
          credentials: createTemporaryCredentials({
            clientId: `artifact-download/${taskId}/${runId}/${now}`,
            issuer: queue.credentials,
            start: now,
            expiry: now + 60 * 60 * 1000,
            scopes: [`object:download:${name}`],
          }),
        });
      }
      default:
        throw new Error(`unknown storageType ${artifact.storageType}`);
    }
  };

  const info = (artifact) => {
    const out = { storageType: artifact.storageType, name: artifact.name,
      expires: artifact.expires, contentType: artifact.contentType };
    if (artifact.contentLength !== undefined && artifact.contentLength !== null) {
      out.contentLength = artifact.contentLength;
    }
    return out;
  };

  const pageQuery = (ctx) => ({
    limit: ctx.query.limit === undefined ? undefined : parseInt(ctx.query.limit, 10),
    continuationToken: ctx.query.continuationToken,
  });

  return {
    ping: async () => ok({ alive: true, uptime: (Date.now() - startedAt) / 1000 }),

    task: async (ctx) => ok(queue.definition(queue.getTask(ctx.params.taskId))),

    status: async (ctx) => ok({ status: queue.status(queue.getTask(ctx.params.taskId)) }),

    createTask: async (ctx) => {
      const check = await ctx.authorizer();
      return ok({ status: queue.createTask(ctx.params.taskId, ctx.body, check) });
    },

    cancelTask: async (ctx) => {
      const check = await ctx.authorizer();
      return ok({ status: queue.cancel(ctx.params.taskId, check) });
    },

    // Long-polls: claims at once when something is pending, else waits for a
    // createTask or retry on this queue until the poll time runs out or the
    // caller hangs up (a claim for a closed connection would be lost).
    claimWork: async (ctx) => {
      const check = await ctx.authorizer();
      const { taskQueueId } = ctx.params;
      const { workerGroup, workerId, tasks } = ctx.body;
      check({ taskQueueId, workerGroup, workerId });
      const until = Date.now() + pollMs;
      for (;;) {
        if (ctx.closed()) {
          return ok({ tasks: [] });
        }
        const claims = queue.claim(taskQueueId, workerGroup, workerId, tasks);
        const remaining = until - Date.now();
        if (claims.length || remaining <= 0) {
          return ok({ tasks: claims });
        }
        await waiters.wait(taskQueueId, remaining, ctx.closedPromise);
      }
    },

    reclaimTask: async (ctx) => ok(queue.reclaim(ctx.params.taskId, runIdOf(ctx))),

    reportCompleted: async (ctx) => {
      // A legacy {"success": false} body on "completed" means failed.
      let failed = false;
      try {
        failed = JSON.parse(ctx.bodyText || '{}').success === false;
      } catch {
        failed = false;
      }
      const state = failed ? 'failed' : 'completed';
      return ok({ status: queue.resolve(ctx.params.taskId, runIdOf(ctx), state, state) });
    },

    reportFailed: async (ctx) =>
      ok({ status: queue.resolve(ctx.params.taskId, runIdOf(ctx), 'failed', 'failed') }),

    reportException: async (ctx) => ok({
      status: queue.resolve(ctx.params.taskId, runIdOf(ctx), 'exception', ctx.body.reason),
    }),

    createArtifact: async (ctx) => ok(queue.createArtifact(ctx.params.taskId, runIdOf(ctx),
      ctx.params.name, ctx.body)),

    finishArtifact: async (ctx) => {
      queue.finishArtifact(ctx.params.taskId, runIdOf(ctx), ctx.params.name, ctx.body.uploadId);
      return { status: 204 };
    },

    getArtifact: async (ctx) => {
      const check = await ctx.authorizer();
      const { taskId, name } = ctx.params;
      const runId = runIdOf(ctx);
      return download(taskId, runId, queue.findArtifact(taskId, runId, name, check));
    },

    getLatestArtifact: async (ctx) => {
      const check = await ctx.authorizer();
      const { taskId, name } = ctx.params;
      // Permission first, so a caller without it learns nothing of the task.
      check({ names: [name] });
      const runId = queue.latestRunId(taskId);
      return download(taskId, runId, queue.findArtifact(taskId, runId, name, check));
    },

    artifact: async (ctx) => {
      const check = await ctx.authorizer();
      const { taskId, name } = ctx.params;
      const runId = runIdOf(ctx);
      return content(taskId, runId, queue.findArtifact(taskId, runId, name, check));
    },

    latestArtifact: async (ctx) => {
      const check = await ctx.authorizer();
      const { taskId, name } = ctx.params;
      check({ names: [name] });
      const runId = queue.latestRunId(taskId);
      return content(taskId, runId, queue.findArtifact(taskId, runId, name, check));
    },

    artifactInfo: async (ctx) => {
      const { taskId, name } = ctx.params;
      const runId = runIdOf(ctx);
      const task = store.tasks.get(taskId);
      const artifact = task && task.artifacts[runId] && task.artifacts[runId].get(name);
      if (!artifact || !artifact.present) {
        throw new ApiError('ResourceNotFound', 'Artifact not found', {});
      }
      return ok(info(artifact));
    },

    latestArtifactInfo: async (ctx) => {
      const { taskId, name } = ctx.params;
      const runId = queue.latestRunId(taskId);
      const artifact = store.tasks.get(taskId).artifacts[runId].get(name);
      if (!artifact || !artifact.present) {
        throw new ApiError('ResourceNotFound', 'Artifact not found', {});
      }
      return ok(info(artifact));
    },

    listArtifacts: async (ctx) =>
      ok(queue.listArtifacts(ctx.params.taskId, runIdOf(ctx), pageQuery(ctx))),

    listLatestArtifacts: async (ctx) =>
      ok(queue.listArtifacts(ctx.params.taskId, undefined, pageQuery(ctx))),

    pendingTasks: async (ctx) => {
      const { taskQueueId } = ctx.params;
      const [provisionerId, workerType] = [taskQueueId.split('/')[0],
        taskQueueId.slice(taskQueueId.indexOf('/') + 1)];
      let pendingTasks = 0;
      for (const t of store.tasks.values()) {
        const run = t.runs[t.runs.length - 1];
        if (t.definition.taskQueueId === taskQueueId && run && run.state === 'pending') {
          pendingTasks += 1;
        }
      }
      return ok({ provisionerId, workerType, taskQueueId, pendingTasks });
    },
  };
};

export { PRIORITIES };
