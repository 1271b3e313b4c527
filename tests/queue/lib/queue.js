// The Queue's task life cycle, independent of HTTP: task creation with
// dependencies, claims with temporary credentials, claim expiry and retries,
// deadlines, cancellation, resolution and artifacts.  Methods throw ApiError
// for the answers the real Queue gives as errors; scope checks stay in the
// routes, which pass an `authorize(params)` callback where the real handler
// checks scopes part-way through.
import { ApiError } from './errors.js';
import { pgTimestamp } from './clock.js';
import { createTemporaryCredentials } from './hawk.js';
import { SLUGID_PATTERN, nice as slugid } from './slugid.js';

export const PRIORITIES = ['highest', 'very-high', 'high', 'medium', 'low', 'very-low', 'lowest'];
const RESOLVED = new Set(['completed', 'failed', 'exception']);
const RETRY_REASONS = { 'worker-shutdown': 'retry', 'intermittent-task': 'task-retry' };
const MAX_RUNS = 50;
const FIFTEEN_MINUTES = 15 * 60 * 1000;
const ARTIFACT_EXCEPTION_WINDOW = 25 * 60 * 1000;
const DAY = 24 * 60 * 60 * 1000;

const iso = (v) => new Date(v).toJSON();

// Deep equality over JSON values, for createTask idempotency and artifact
// compatibility.
const jsonEqual = (a, b) => {
  if (a === b) {
    return true;
  }
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null ||
      Array.isArray(a) !== Array.isArray(b)) {
    return false;
  }
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  return ka.length === kb.length && ka.every((k) => k in b && jsonEqual(a[k], b[k]));
};

export const artifactObjectName = (taskId, runId, name) => `t/${taskId}/${runId}/${name}`;

export class Queue {
  constructor({ store, clock, credentials, claimTimeoutMs, maxDeadlineMs, onPending, blobUrls }) {
    this.store = store;
    this.clock = clock;
    // The Queue's own client, issuer of every temporary credential it hands out.
    this.credentials = credentials;
    this.claimTimeoutMs = claimTimeoutMs;
    this.maxDeadlineMs = maxDeadlineMs;
    this.onPending = onPending || (() => {});
    this.blobUrls = blobUrls;
  }

  // --- views -------------------------------------------------------------

  getTask(taskId) {
    const task = this.store.tasks.get(taskId);
    if (!task) {
      throw new ApiError('ResourceNotFound',
        '`{{taskId}}` does not correspond to a task that exists.\n' +
        'Are you sure this task has already been submitted?', { taskId });
    }
    return task;
  }

  definition(task) {
    return structuredClone(task.definition);
  }

  state(task) {
    return task.runs.length ? task.runs[task.runs.length - 1].state : 'unscheduled';
  }

  status(task) {
    const d = task.definition;
    return {
      taskId: task.taskId,
      provisionerId: d.provisionerId,
      workerType: d.workerType,
      taskQueueId: d.taskQueueId,
      schedulerId: d.schedulerId,
      projectId: d.projectId,
      taskGroupId: d.taskGroupId,
      priority: d.priority,
      deadline: d.deadline,
      expires: d.expires,
      retriesLeft: task.retriesLeft,
      state: this.state(task),
      runs: task.runs.map((r) => {
        const out = {};
        for (const k of ['runId', 'state', 'reasonCreated', 'reasonResolved', 'workerGroup',
          'workerId', 'takenUntil', 'scheduled', 'started', 'resolved']) {
          if (r[k] !== undefined) {
            out[k] = r[k];
          }
        }
        return out;
      }),
    };
  }

  // --- creation ----------------------------------------------------------

  // `def` has been validated and defaulted by create-task-request.json.
  createTask(taskId, def, authorize) {
    const now = this.clock.now();
    let { taskQueueId, provisionerId, workerType } = def;
    if (taskQueueId) {
      const [p, w] = [taskQueueId.slice(0, taskQueueId.indexOf('/')),
        taskQueueId.slice(taskQueueId.indexOf('/') + 1)];
      if ((provisionerId && provisionerId !== p) || (workerType && workerType !== w)) {
        throw new ApiError('InputError',
          'taskQueueId {{taskQueueId}} does not match provisionerId {{provisionerId}} ' +
          'and workerType {{workerType}}', { taskQueueId, provisionerId, workerType });
      }
      provisionerId = p;
      workerType = w;
    } else if (provisionerId && workerType) {
      taskQueueId = `${provisionerId}/${workerType}`;
    } else {
      throw new ApiError('InputError',
        'Either taskQueueId, or provisionerId and workerType must be given', {});
    }
    const taskGroupId = def.taskGroupId || taskId;
    const priorityIndex = PRIORITIES.indexOf(def.priority);
    authorize({
      scopes: def.scopes,
      routes: def.routes,
      projectId: def.projectId,
      schedulerId: def.schedulerId,
      taskGroupId,
      priorities: PRIORITIES.slice(0, priorityIndex + 1),
      provisionerId,
      workerType,
    });

    for (const scope of def.scopes) {
      if (scope.endsWith('**')) {
        throw new ApiError('InputError',
          'scope {{scope}} ends with `**`, which is not allowed in task.scopes', { scope });
      }
    }
    const created = Date.parse(def.created);
    const deadline = Date.parse(def.deadline);
    const expires = def.expires ? Date.parse(def.expires) : deadline + 365 * DAY;
    if (Math.abs(created - now) > FIFTEEN_MINUTES) {
      throw new ApiError('InputError',
        'Created timestamp must be within 15 minutes of the current time', {});
    }
    if (deadline <= created) {
      throw new ApiError('InputError', 'Deadline must be after created', {});
    }
    if (deadline < now) {
      throw new ApiError('InputError', 'Deadline cannot be in the past', {});
    }
    if (deadline > now + this.maxDeadlineMs + FIFTEEN_MINUTES) {
      throw new ApiError('InputError',
        'Deadline cannot be more than {{days}} days into the future',
        { days: this.maxDeadlineMs / DAY });
    }
    if (expires < deadline) {
      throw new ApiError('InputError', 'Expires cannot be before the deadline', {});
    }

    const definition = {
      provisionerId,
      workerType,
      taskQueueId,
      schedulerId: def.schedulerId,
      projectId: def.projectId,
      taskGroupId,
      dependencies: def.dependencies,
      requires: def.requires,
      routes: def.routes,
      priority: def.priority,
      retries: def.retries,
      created: iso(created),
      deadline: iso(deadline),
      expires: iso(expires),
      scopes: def.scopes,
      payload: def.payload,
      metadata: def.metadata,
      tags: def.tags,
      extra: def.extra,
    };

    const existing = this.store.tasks.get(taskId);
    if (existing) {
      if (!jsonEqual(existing.definition, definition)) {
        throw new ApiError('RequestConflict',
          'taskId `{{taskId}}` already used by another task. This could be the result of ' +
          'faulty idempotency!', { taskId });
      }
      return this.status(existing);
    }
    const group = this.store.taskGroups.get(taskGroupId);
    if (group && group.schedulerId !== def.schedulerId) {
      throw new ApiError('RequestConflict',
        'Task group `{{taskGroupId}}` contains tasks with schedulerId `{{existing}}`; ' +
        'tasks in a task group must share one schedulerId, not `{{schedulerId}}`',
        { taskGroupId, existing: group.schedulerId, schedulerId: def.schedulerId });
    }
    if (group && group.sealed) {
      throw new ApiError('RequestConflict', 'Task group `{{taskGroupId}}` is sealed', { taskGroupId });
    }
    const missing = def.dependencies.filter((d) => d !== taskId && !this.store.tasks.has(d));
    if (missing.length) {
      throw new ApiError('InputError',
        'The following taskIds in task.dependencies do not exist:\n{{missing}}', { missing });
    }

    const task = {
      taskId,
      definition,
      retriesLeft: def.retries,
      runs: [],
      artifacts: [],
      dependents: [],
    };
    this.store.tasks.set(taskId, task);
    if (!group) {
      this.store.taskGroups.set(taskGroupId, { schedulerId: def.schedulerId, sealed: false });
    }
    for (const dep of def.dependencies) {
      if (dep !== taskId) {
        this.store.tasks.get(dep).dependents.push(taskId);
      }
    }
    if (this._dependenciesSatisfied(task)) {
      this._addRun(task, 'pending', 'scheduled');
    }
    this.store.changed();
    return this.status(task);
  }

  _dependenciesSatisfied(task) {
    const { dependencies, requires } = task.definition;
    return dependencies.every((id) => {
      if (id === task.taskId) {
        return false;
      }
      const state = this.state(this.store.tasks.get(id));
      return requires === 'all-resolved' ? RESOLVED.has(state) : state === 'completed';
    });
  }

  _addRun(task, state, reasonCreated) {
    const now = iso(this.clock.now());
    const run = { runId: task.runs.length, state, reasonCreated, scheduled: now };
    task.runs.push(run);
    task.artifacts.push(new Map());
    if (state === 'pending') {
      run._seq = this.store.nextSeq();
      this.onPending(task.definition.taskQueueId);
    }
    return run;
  }

  // Called whenever a task reaches a final resolution: dependents waiting on
  // it may now be scheduled.
  _taskResolved(task) {
    for (const id of task.dependents) {
      const dependent = this.store.tasks.get(id);
      if (dependent && dependent.runs.length === 0 &&
          Date.parse(dependent.definition.deadline) > this.clock.now() &&
          this._dependenciesSatisfied(dependent)) {
        this._addRun(dependent, 'pending', 'scheduled');
      }
    }
  }

  _resolveRun(task, run, state, reason) {
    run.state = state;
    run.reasonResolved = reason;
    run.resolved = iso(this.clock.now());
    delete run._seq;
  }

  // Retries when the reason allows it and retries remain, else the task is
  // resolved for good.
  _retryOrResolve(task, reasonCreated) {
    if (reasonCreated && task.retriesLeft > 0 && task.runs.length < MAX_RUNS &&
        Date.parse(task.definition.deadline) > this.clock.now()) {
      task.retriesLeft -= 1;
      this._addRun(task, 'pending', reasonCreated);
    } else {
      this._taskResolved(task);
    }
  }

  // --- timers ------------------------------------------------------------

  // Applies claim expiry and deadlines that have passed.  Cheap enough to run
  // before every request and on a short interval.
  tick() {
    const now = this.clock.now();
    let changed = false;
    for (const task of this.store.tasks.values()) {
      const state = this.state(task);
      if (RESOLVED.has(state)) {
        continue;
      }
      const run = task.runs[task.runs.length - 1];
      const deadline = Date.parse(task.definition.deadline);
      if (run && run.state === 'running' && Date.parse(run.takenUntil) <= now &&
          Date.parse(run.takenUntil) < deadline) {
        this._resolveRun(task, run, 'exception', 'claim-expired');
        this._retryOrResolve(task, 'retry');
        changed = true;
      }
      if (deadline <= now && !RESOLVED.has(this.state(task))) {
        this._resolveWithException(task, 'deadline-exceeded');
        changed = true;
      }
    }
    if (changed) {
      this.store.changed();
    }
  }

  // Deadline and cancel: the last pending/running run (or a new run when the
  // task never had one) becomes exception with `reason`; never retried.
  _resolveWithException(task, reason) {
    let run = task.runs[task.runs.length - 1];
    if (!run || RESOLVED.has(run.state)) {
      run = this._addRun(task, 'exception', 'exception');
    }
    this._resolveRun(task, run, 'exception', reason);
    this._taskResolved(task);
  }

  nextTimerMs() {
    let next = Infinity;
    for (const task of this.store.tasks.values()) {
      if (RESOLVED.has(this.state(task))) {
        continue;
      }
      next = Math.min(next, Date.parse(task.definition.deadline));
      const run = task.runs[task.runs.length - 1];
      if (run && run.state === 'running') {
        next = Math.min(next, Date.parse(run.takenUntil));
      }
    }
    return next;
  }

  // --- claims ------------------------------------------------------------

  _credentials(task, run) {
    const takenUntil = Date.parse(run.takenUntil);
    const { taskId } = task;
    const clientId = `task-client/${taskId}/${run.runId}/on/${run.workerGroup}/` +
      `${run.workerId}/until/${takenUntil / 1000}`;
    return createTemporaryCredentials({
      clientId,
      issuer: this.credentials,
      start: this.clock.now(),
      expiry: takenUntil,
      scopes: [
        `queue:reclaim-task:${taskId}/${run.runId}`,
        `queue:resolve-task:${taskId}/${run.runId}`,
        `queue:create-artifact:${taskId}/${run.runId}`,
        ...task.definition.scopes,
      ],
    });
  }

  // Claims up to `count` pending tasks of the queue, highest priority first
  // and then oldest first.
  claim(taskQueueId, workerGroup, workerId, count) {
    this.tick();
    const now = this.clock.now();
    const pending = [];
    for (const task of this.store.tasks.values()) {
      if (task.definition.taskQueueId !== taskQueueId) {
        continue;
      }
      const run = task.runs[task.runs.length - 1];
      if (run && run.state === 'pending') {
        pending.push({ task, run, prio: PRIORITIES.indexOf(task.definition.priority) });
      }
    }
    pending.sort((a, b) => a.prio - b.prio || a.run._seq - b.run._seq);
    const claims = [];
    for (const { task, run } of pending.slice(0, count)) {
      const takenUntil = now + this.claimTimeoutMs;
      run.state = 'running';
      run.workerGroup = workerGroup;
      run.workerId = workerId;
      run.started = iso(now);
      run.takenUntil = iso(takenUntil);
      delete run._seq;
      claims.push({
        status: this.status(task),
        runId: run.runId,
        workerGroup,
        workerId,
        takenUntil: pgTimestamp(takenUntil),
        task: this.definition(task),
        credentials: this._credentials(task, run),
      });
    }
    if (claims.length) {
      this.store.changed();
    }
    return claims;
  }

  _run(task, runId) {
    const run = task.runs[runId];
    if (!run) {
      throw new ApiError('ResourceNotFound', 'Run {{runId}} not found on task {{taskId}}',
        { runId, taskId: task.taskId });
    }
    return run;
  }

  reclaim(taskId, runId) {
    this.tick();
    const task = this.getTask(taskId);
    const run = this._run(task, runId);
    const now = this.clock.now();
    if (Date.parse(task.definition.deadline) <= now) {
      throw new ApiError('RequestConflict',
        'Task `{{taskId}}` Can\'t be reclaimed past its deadline of {{deadline}}',
        { taskId, deadline: task.definition.deadline });
    }
    if (runId !== task.runs.length - 1) {
      throw new ApiError('RequestConflict',
        'Run {{runId}} is not the latest run of task `{{taskId}}`', { taskId, runId });
    }
    if (run.state !== 'running') {
      throw new ApiError('RequestConflict',
        'Run {{runId}} of task `{{taskId}}` is not running (state: {{state}}, ' +
        'reasonResolved: {{reason}})', { taskId, runId, state: run.state,
          reason: run.reasonResolved || null });
    }
    const takenUntil = now + this.claimTimeoutMs;
    run.takenUntil = iso(takenUntil);
    this.store.changed();
    return {
      status: this.status(task),
      runId,
      workerGroup: run.workerGroup,
      workerId: run.workerId,
      takenUntil: iso(takenUntil),
      credentials: this._credentials(task, run),
    };
  }

  // reportCompleted / reportFailed / reportException.
  resolve(taskId, runId, state, reason) {
    this.tick();
    const task = this.getTask(taskId);
    const run = this._run(task, runId);
    if (run.state === state && run.reasonResolved === reason) {
      return this.status(task);
    }
    if (run.state !== 'running') {
      throw new ApiError('RequestConflict',
        'Run {{runId}} of task `{{taskId}}` is not running (state: {{state}}, ' +
        'reasonResolved: {{reason}}) and cannot be resolved as {{target}}',
        { taskId, runId, state: run.state, reason: run.reasonResolved || null,
          target: `${state}/${reason}` });
    }
    if (runId !== task.runs.length - 1) {
      throw new ApiError('RequestConflict',
        'Run {{runId}} is not the latest run of task `{{taskId}}`', { taskId, runId });
    }
    this._resolveRun(task, run, state, reason);
    this._retryOrResolve(task, state === 'exception' ? RETRY_REASONS[reason] : undefined);
    this.store.changed();
    return this.status(task);
  }

  cancel(taskId, authorize) {
    this.tick();
    const task = this.getTask(taskId);
    const d = task.definition;
    authorize({ taskId, schedulerId: d.schedulerId, taskGroupId: d.taskGroupId,
      projectId: d.projectId });
    if (Date.parse(d.deadline) <= this.clock.now()) {
      throw new ApiError('RequestConflict',
        'Task `{{taskId}}` Can\'t be cancelled past its deadline of {{deadline}}',
        { taskId, deadline: d.deadline });
    }
    if (!RESOLVED.has(this.state(task))) {
      this._resolveWithException(task, 'canceled');
      this.store.changed();
    }
    return this.status(task);
  }

  // --- artifacts ---------------------------------------------------------

  createArtifact(taskId, runId, name, input, rootUrl) {
    this.tick();
    const now = this.clock.now();
    const { storageType } = input;
    const contentType = input.contentType || 'application/binary';
    const expires = Date.parse(input.expires);
    if (expires < now - FIFTEEN_MINUTES) {
      throw new ApiError('InputError', 'Expires must be in the future', {});
    }
    const task = this.store.tasks.get(taskId);
    if (!task) {
      throw new ApiError('InputError', 'Task not found', {});
    }
    const run = task.runs[runId];
    if (!run) {
      throw new ApiError('InputError', 'Run not found', {});
    }
    if (!run.workerGroup || !run.workerId) {
      throw new ApiError('InputError',
        'Run was not claimed by a worker and so no artifacts can exist', {});
    }
    if (expires > Date.parse(task.definition.expires)) {
      throw new ApiError('InputError',
        'Artifact expires ({{expires}}) after the task expiration {{taskExpires}} ' +
        '(task.expires < expires) - this is not allowed, artifacts may not expire after ' +
        'the task they belong to expires',
        { taskExpires: task.definition.expires, expires: iso(expires) });
    }
    if (run.state !== 'running') {
      const allow = run.state === 'exception' &&
        Date.parse(run.resolved) > now - ARTIFACT_EXCEPTION_WINDOW;
      if (!allow) {
        throw new ApiError('RequestConflict',
          'Artifacts cannot be created for a task after it is resolved, unless it is ' +
          'resolved \'exception\', and even in this case only up to 25 min past ' +
          'resolution.This to ensure that artifacts have been uploaded before a task is ' +
          '\'completed\' and output is consumed by a dependent task\n\n' +
          'Task status: {{status}}', { status: this.status(task) });
      }
    }

    const details = {};
    let present = true;
    let uploadId;
    const objectName = artifactObjectName(taskId, runId, name);
    switch (storageType) {
      case 'object':
        present = false;
        uploadId = slugid();
        details.uploadId = uploadId;
        break;
      case 's3':
        details.bucket = name.startsWith('public/') ? 'public' : 'private';
        details.prefix = `${taskId}/${runId}/${name}`;
        break;
      case 'reference':
        details.url = input.url;
        break;
      case 'link':
        details.artifact = input.artifact;
        break;
      case 'error':
        details.message = input.message;
        details.reason = input.reason;
        break;
      default:
        throw new Error('Unknown storageType: ' + storageType);
    }

    const artifacts = task.artifacts[runId];
    const original = artifacts.get(name);
    if (original) {
      const compatible =
        (storageType === 'link' || original.contentType === contentType) &&
        Date.parse(original.expires) <= expires &&
        (original.storageType === storageType
          ? (jsonEqual(original.details, details) || storageType === 'reference' ||
             (storageType === 'object' && !original.present))
          : original.storageType === 'reference' && storageType === 'link');
      if (!compatible) {
        throw new ApiError('RequestConflict',
          'Artifact already exists with different properties, and none of the allowed ' +
          'exceptions apply: {{originalArtifact}}', {
            originalArtifact: { storageType: original.storageType,
              contentType: original.contentType, expires: original.expires },
          });
      }
      // An unfinished object artifact keeps its upload, so a retried
      // createArtifact continues the same upload.
      if (storageType === 'object') {
        uploadId = original.details.uploadId || uploadId;
        details.uploadId = uploadId;
        present = original.present;
      }
      Object.assign(original, { storageType, details, expires: iso(expires), present });
    } else {
      const artifact = { storageType, name, contentType, expires: iso(expires), details, present };
      if (input.contentLength !== undefined) {
        artifact.contentLength = input.contentLength;
      }
      artifacts.set(name, artifact);
    }
    this.store.changed();

    switch (storageType) {
      case 'object': {
        const objectExpires = iso(expires);
        this.lockObject(objectName, task.definition.projectId, uploadId, objectExpires);
        const expiry = Math.min(expires, now + DAY);
        return {
          storageType,
          name: objectName,
          projectId: task.definition.projectId,
          uploadId,
          expires: objectExpires,
          credentials: createTemporaryCredentials({
            clientId: `artifact-upload/${taskId}/${runId}/on/${run.workerGroup}/${run.workerId}`,
            issuer: this.credentials,
            start: now,
            expiry,
            scopes: [`object:upload:${task.definition.projectId}:${objectName}`],
          }),
        };
      }
      case 's3':
        return {
          storageType,
          contentType,
          expires: iso(now + 45 * 60 * 1000),
          putUrl: this.blobUrls.s3Put(details.bucket, details.prefix, contentType,
            now + (45 * 60 + 10) * 1000),
        };
      default:
        return { storageType };
    }
  }

  // The Queue's createUpload call without methods, which fixes projectId,
  // uploadId and expires of the object before the worker uploads.
  lockObject(name, projectId, uploadId, expires) {
    const existing = this.store.objects.get(name);
    if (existing && existing.uploadId === uploadId) {
      return;
    }
    if (existing && existing.blob) {
      this.store.dropBlob(existing.blob.id);
    }
    this.store.objects.set(name, { name, projectId, uploadId, expires, hashes: {},
      finished: false, blob: null });
    this.store.changed();
  }

  finishArtifact(taskId, runId, name, uploadId) {
    const task = this.store.tasks.get(taskId);
    const artifact = task && task.artifacts[runId] && task.artifacts[runId].get(name);
    if (!artifact) {
      throw new ApiError('ResourceNotFound',
        'Artifact with taskId `{{taskId}}`, runId {{runId}}, name `{{name}}` not found',
        { taskId, runId, name });
    }
    if (artifact.storageType !== 'object') {
      throw new ApiError('InputError', 'Only object artifacts can be finished', {});
    }
    if (artifact.present) {
      return;
    }
    if (uploadId !== artifact.details.uploadId) {
      throw new ApiError('InputError', 'given uploadId does not match that for the artifact', {});
    }
    const object = this.store.objects.get(artifactObjectName(taskId, runId, name));
    if (!object || !object.finished) {
      throw new ApiError('InputError', 'Object storing artifact data does not exist', {});
    }
    artifact.present = true;
    artifact.details = {};
    this.store.changed();
  }

  latestRunId(taskId) {
    const task = this.store.tasks.get(taskId);
    if (!task) {
      throw new ApiError('ResourceNotFound', 'Task not found', {});
    }
    if (task.runs.length === 0) {
      throw new ApiError('ResourceNotFound', 'Task doesn\'t have any runs', {});
    }
    return task.runs.length - 1;
  }

  // Follows links, calling authorize({names}) before each lookup as the real
  // Queue does, and returns the final (non-link) artifact.
  findArtifact(taskId, runId, name, authorize) {
    const names = [];
    for (;;) {
      names.push(name);
      authorize({ names: [...names] });
      const task = this.store.tasks.get(taskId);
      const artifact = task && task.artifacts[runId] && task.artifacts[runId].get(name);
      if (!artifact || !artifact.present) {
        throw new ApiError('ResourceNotFound', 'Artifact not found', {});
      }
      if (Date.parse(artifact.expires) < this.clock.now()) {
        throw new ApiError('ResourceExpired', 'Artifact expired', {});
      }
      if (artifact.storageType !== 'link') {
        return artifact;
      }
      const target = artifact.details.artifact;
      if (names.includes(target)) {
        throw new ApiError('InputError', 'Artifact leads to a link cycle', {});
      }
      name = target;
    }
  }

  listArtifacts(taskId, runId, { limit, continuationToken }) {
    const latest = this.latestRunId(taskId);
    if (runId === undefined) {
      runId = latest;
    } else if (runId < 0 || runId > latest) {
      throw new ApiError('ResourceNotFound',
        'Task with taskId: `{{taskId}}` has no run with runId: {{runId}}', { taskId, runId });
    }
    let after = null;
    if (continuationToken !== undefined) {
      try {
        after = JSON.parse(Buffer.from(continuationToken, 'base64url').toString('utf8')).after;
      } catch {
        after = null;
      }
      if (typeof after !== 'string') {
        throw new ApiError('InputError', 'Invalid continuationToken', {});
      }
    }
    let pageSize = limit === undefined ? 1000 : Math.min(1000, limit);
    if (pageSize <= 0) {
      pageSize = 1000;
    }
    const names = [...this.store.tasks.get(taskId).artifacts[runId].keys()]
      .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
      .filter((n) => after === null || n > after);
    const page = names.slice(0, pageSize);
    const artifacts = this.store.tasks.get(taskId).artifacts[runId];
    const result = {
      artifacts: page.map((n) => {
        const a = artifacts.get(n);
        const out = { storageType: a.storageType, name: a.name, expires: a.expires,
          contentType: a.contentType };
        if (a.contentLength !== undefined && a.contentLength !== null) {
          out.contentLength = a.contentLength;
        }
        return out;
      }),
    };
    if (names.length > pageSize) {
      result.continuationToken = Buffer.from(JSON.stringify({ after: page[page.length - 1] }))
        .toString('base64url');
    }
    return result;
  }

  // --- admin shortcuts ---------------------------------------------------

  // Resolves the latest run of a task as if a worker had claimed and then
  // reported it, so tests can build chains of finished tasks without
  // running workers.  A task without runs (dependencies unresolved) gets a
  // run 0; a pending run is claimed by workerGroup/workerId first.  Answering
  // again with the same state is a no-op; another state is a conflict.
  forceResolve(taskId, { workerGroup, workerId, state, reason }) {
    this.tick();
    const task = this.getTask(taskId);
    let run = task.runs[task.runs.length - 1];
    if (!run) {
      run = this._addRun(task, 'running', 'scheduled');
    }
    if (RESOLVED.has(run.state)) {
      if (run.state === state && run.reasonResolved === reason) {
        return this.status(task);
      }
      throw new ApiError('RequestConflict',
        'Run {{runId}} of task `{{taskId}}` is already resolved (state: {{state}}, ' +
        'reasonResolved: {{reason}})', { taskId, runId: run.runId, state: run.state,
          reason: run.reasonResolved });
    }
    if (run.state !== 'running' || !run.workerGroup) {
      const now = this.clock.now();
      run.state = 'running';
      run.workerGroup = workerGroup;
      run.workerId = workerId;
      run.started = iso(now);
      run.takenUntil = iso(now + this.claimTimeoutMs);
      delete run._seq;
    }
    this._resolveRun(task, run, state, reason);
    this._retryOrResolve(task, state === 'exception' ? RETRY_REASONS[reason] : undefined);
    this.store.changed();
    return this.status(task);
  }

  // Stores `body` as a present s3 artifact of run `runId`, in the bucket
  // getArtifact would use for its name, whatever the state of the run: the
  // artifact then looks exactly like one a worker uploaded.
  putS3Artifact(taskId, runId, name, { body, contentType, contentEncoding, expires }) {
    const task = this.getTask(taskId);
    if (!task.runs[runId]) {
      throw new ApiError('ResourceNotFound', 'Run {{runId}} not found on task {{taskId}}',
        { runId, taskId });
    }
    const bucket = name.startsWith('public/') ? 'public' : 'private';
    const prefix = `${taskId}/${runId}/${name}`;
    const blob = { ...this.store.writeBlob(body), contentType,
      contentEncoding: contentEncoding || null };
    const key = `${bucket}/${prefix}`;
    const old = this.store.s3.get(key);
    this.store.s3.set(key, blob);
    if (old) {
      this.store.dropBlob(old.id);
    }
    task.artifacts[runId].set(name, { storageType: 's3', name, contentType,
      expires: iso(expires === undefined ? Date.parse(task.definition.expires) : expires),
      details: { bucket, prefix }, present: true });
    this.store.changed();
    return { storageType: 's3', name };
  }

  // Test convenience: every task with status, for the admin API.
  summary() {
    return [...this.store.tasks.values()].map((t) => this.status(t));
  }
}

export { SLUGID_PATTERN };
