// The emulator's state: tasks with their runs and artifacts, task groups,
// objects of the object service and stored blobs.  With a state directory it
// is written as one JSON file (state.json, replaced atomically) shortly after
// each change and at shutdown, and blobs live under <dir>/blobs; without one
// everything lives in a temporary directory removed at shutdown.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import crypto from 'node:crypto';

const STATE_VERSION = 1;
const SAVE_DELAY_MS = 100;

export class Store {
  constructor({ stateDir } = {}) {
    this.persistent = Boolean(stateDir);
    this.dir = stateDir || fs.mkdtempSync(path.join(os.tmpdir(), 'tc-queue-'));
    this.blobDir = path.join(this.dir, 'blobs');
    this.tmpDir = path.join(this.dir, 'incoming');
    fs.mkdirSync(this.blobDir, { recursive: true });
    fs.mkdirSync(this.tmpDir, { recursive: true });
    this.tasks = new Map();
    this.taskGroups = new Map();
    this.objects = new Map();
    // s3 blobs by "<bucket>/<key>"
    this.s3 = new Map();
    this.seq = 0;
    this._saveTimer = null;
    if (this.persistent) {
      this._load();
    }
  }

  get file() {
    return path.join(this.dir, 'state.json');
  }

  nextSeq() {
    this.seq += 1;
    return this.seq;
  }

  _load() {
    let text;
    try {
      text = fs.readFileSync(this.file, 'utf8');
    } catch (err) {
      if (err.code === 'ENOENT') {
        return;
      }
      throw err;
    }
    const data = JSON.parse(text);
    if (data.version !== STATE_VERSION) {
      throw new Error(`${this.file}: unsupported state version ${data.version}`);
    }
    this.seq = data.seq;
    for (const t of data.tasks) {
      t.artifacts = t.artifacts.map((list) => new Map(list.map((a) => [a.name, a])));
      this.tasks.set(t.taskId, t);
    }
    this.taskGroups = new Map(Object.entries(data.taskGroups));
    this.objects = new Map(Object.entries(data.objects));
    this.s3 = new Map(Object.entries(data.s3));
  }

  serialize() {
    return {
      version: STATE_VERSION,
      seq: this.seq,
      tasks: [...this.tasks.values()].map((t) => ({
        ...t,
        artifacts: t.artifacts.map((m) => [...m.values()]),
      })),
      taskGroups: Object.fromEntries(this.taskGroups),
      objects: Object.fromEntries(this.objects),
      s3: Object.fromEntries(this.s3),
    };
  }

  // Debounced: a burst of changes costs one write.
  changed() {
    if (!this.persistent || this._saveTimer) {
      return;
    }
    this._saveTimer = setTimeout(() => {
      this._saveTimer = null;
      this.saveNow();
    }, SAVE_DELAY_MS);
  }

  saveNow() {
    if (!this.persistent) {
      return;
    }
    if (this._saveTimer) {
      clearTimeout(this._saveTimer);
      this._saveTimer = null;
    }
    const tmp = this.file + '.tmp';
    fs.writeFileSync(tmp, JSON.stringify(this.serialize()));
    fs.renameSync(tmp, this.file);
  }

  close() {
    this.saveNow();
    if (!this.persistent) {
      fs.rmSync(this.dir, { recursive: true, force: true });
    }
  }

  // A fresh path for an incoming upload; the caller renames it into place
  // with commitBlob once the body is complete.
  incomingPath() {
    return path.join(this.tmpDir, crypto.randomBytes(12).toString('hex'));
  }

  commitBlob(tmpPath) {
    const id = crypto.randomBytes(16).toString('hex');
    fs.renameSync(tmpPath, path.join(this.blobDir, id));
    return id;
  }

  // Stores bytes already in memory (dataInline uploads); returns the blob
  // record minus the content headers.
  writeBlob(buffer) {
    const tmp = this.incomingPath();
    fs.writeFileSync(tmp, buffer);
    return {
      id: this.commitBlob(tmp),
      size: buffer.length,
      sha256: crypto.createHash('sha256').update(buffer).digest('hex'),
    };
  }

  blobPath(id) {
    return path.join(this.blobDir, id);
  }

  dropBlob(id) {
    if (id) {
      fs.rm(this.blobPath(id), { force: true }, () => {});
    }
  }
}
