-- sw.artifacts: the digests fs.snapshot takes while copying are reused by
-- the chain of trust and the object upload, and only while the file is
-- still that copy.
local artifacts = require("sw.artifacts")
local fs = require("sw.fs")
local hash = require("sw.hash")
local support = require("support")

describe("sw.artifacts digests", function()
  local d, snap, digests

  before_each(function()
    d = support.tmpdir()
    assert(fs.mkdirp(d .. "/src/public"))
    support.write(d .. "/src/public/a.txt", "alpha\n")
    support.write(d .. "/src/b.bin", "bravo")
    snap = d .. "/snap"
    local files = assert(fs.snapshot(d .. "/src", snap))
    digests = artifacts.snapshot_digests(files)
  end)

  after_each(function()
    fs.rmtree(d)
  end)

  it("keeps both digests of every copied file", function()
    assert.are.same({ "b.bin", "public/a.txt" }, support.sorted_keys(digests))
    assert.are.equal(hash.string("alpha\n", "sha256"), digests["public/a.txt"].sha256)
    assert.are.equal(hash.string("bravo", "sha512"), digests["b.bin"].sha512)
    assert.are.same({}, artifacts.snapshot_digests(nil))
  end)

  it("answers from the snapshot without reading the file again", function()
    local file = { name = "public/a.txt", path = snap .. "/public/a.txt" }
    -- Changed in place (same inode and size), which the worker never
    -- does: the answer is still the snapshot's, so it was not read.
    local f = assert(io.open(file.path, "r+b"))
    f:write("ALPHA\n")
    f:close()
    assert.are.equal(hash.string("alpha\n", "sha256"), artifacts.file_digest(digests, file, "sha256"))
    assert.are.equal(hash.string("alpha\n", "sha512"), artifacts.known_digest(digests, file, "sha512"))
  end)

  it("reads the file once it was replaced, or when it was never snapshotted", function()
    local file = { name = "public/a.txt", path = snap .. "/public/a.txt" }
    -- As the worker puts its own log or the chain-of-trust artifact in
    -- place: a rename over the copy (a new inode), here of the same size.
    assert(fs.write_file_atomic(file.path, "ALPHA\n"))
    assert.is_nil(artifacts.known_digest(digests, file, "sha256"))
    assert.are.equal(hash.string("ALPHA\n", "sha256"), artifacts.file_digest(digests, file, "sha256"))
    local new = { name = "public/new.txt", path = snap .. "/public/new.txt" }
    support.write(new.path, "new")
    assert.are.equal(hash.string("new", "sha512"), artifacts.file_digest(digests, new, "sha512"))
    assert.are.equal(hash.string("new", "sha256"), artifacts.file_digest(nil, new, "sha256"))
    assert.are.same({ nil, "hash: " .. snap .. "/gone: No such file or directory", "ENOENT" },
      { artifacts.file_digest(digests, { name = "gone", path = snap .. "/gone" }, "sha256") })
  end)
end)

describe("sw.artifacts listing", function()
  it("lists a snapshot from fs.snapshot's answer and puts the worker's files in name order", function()
    local d = support.tmpdir()
    assert(fs.mkdirp(d .. "/src/public"))
    support.write(d .. "/src/public/a.txt", "alpha\n")
    support.write(d .. "/src/public/c.txt", "c")
    local entries = assert(fs.snapshot(d .. "/src", d .. "/snap"))
    local files = artifacts.listing(d .. "/snap", entries)
    assert.are.same(artifacts.collect(d .. "/snap"), files)
    -- A new name goes in its place; a name already listed is replaced.
    support.write(d .. "/snap/public/b.txt", "bravo")
    assert(artifacts.list_put(files, d .. "/snap", "public/b.txt"))
    assert(fs.write_file_atomic(d .. "/snap/public/c.txt", "charlie"))
    assert(artifacts.list_put(files, d .. "/snap", "public/c.txt"))
    assert(fs.write_file_atomic(d .. "/snap/z", "z"))
    assert(artifacts.list_put(files, d .. "/snap", "z"))
    assert.are.same(artifacts.collect(d .. "/snap"), files)
    local ok, msg, code = artifacts.list_put(files, d .. "/snap", "missing")
    assert.are.same({ nil, "ENOENT" }, { ok, code })
    assert.truthy(msg:find("missing", 1, true))
    fs.rmtree(d)
  end)
end)
