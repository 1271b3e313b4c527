-- sw.fs: files, directories, safe_join and gzip (core/fs.c).
local fs = require("sw.fs")
local hash = require("sw.hash")
local sched = require("sw.sched")
local support = require("support")
local async = support.async

local function running_as_root()
  local p = assert(io.popen("id -u"))
  local uid = p:read("l")
  p:close()
  return uid == "0"
end
local AS_ROOT = running_as_root()

-- Asserts that a call returned exactly nil, msg, code.
local function fails(msg, code, ...)
  assert.are.same({ n = 3, nil, msg, code }, table.pack(...))
end

local write = support.write

local function sh(cmd)
  assert(os.execute(cmd), cmd)
end

-- Deterministic bytes (a 32-bit LCG) that do not compress.
local function pseudo_random(n)
  local parts, x = {}, 987654321
  for i = 1, n // 4 do
    x = (x * 1103515245 + 12345) % 4294967296
    parts[i] = string.pack("<I4", x)
  end
  return table.concat(parts) .. string.rep("q", n % 4)
end

describe("sw.fs", function()
  local top, d
  setup(function()
    top = support.tmpdir()
  end)
  teardown(function()
    sh("chmod -R u+rwx '" .. top .. "' && rm -rf '" .. top .. "'")
  end)
  before_each(function()
    -- a fresh, canonical directory per case
    d = assert(fs.realpath(assert(fs.tmpdir("t-", top))))
  end)
  -- Root ignores permission bits, and CI runs as root: there the EACCES
  -- cases make the one call that must fail in a child process running the
  -- worker's binary as the unprivileged user nobody (setpriv), on the
  -- case's directory made nobody's, and compare what it printed (as
  -- strings, nil restored). As a user, the call runs here.
  -- as_user("mkdirp", path) -> what fs.mkdirp(path) returned.
  local function as_user(fname, ...)
    if not AS_ROOT then
      return fs[fname](...)
    end
    -- The case's tree becomes nobody's, as it is the user's otherwise.
    sh("chown -R nobody:nogroup '" .. d .. "'")
    local args = {}
    for i, a in ipairs({ ... }) do
      args[i] = string.format("%q", a)
    end
    local code = string.format(
      "local r = table.pack(require('sw.fs').%s(%s)) "
        .. "for i = 1, r.n do io.write(tostring(r[i]), '\\0') end",
      fname, table.concat(args, ", "))
    local cmd = string.format("setpriv --reuid=nobody --regid=nogroup --clear-groups %q lua -e %q",
      os.getenv("SW_BIN"), code)
    local pipe = assert(io.popen(cmd))
    local out = pipe:read("a")
    assert(pipe:close(), "as_user: " .. cmd)
    local vals = {}
    for v in out:gmatch("(.-)%z") do
      vals[#vals + 1] = v
    end
    vals.n = #vals
    if vals[1] == "nil" then
      vals[1] = nil
    end
    return table.unpack(vals, 1, vals.n)
  end

  -- A case that needs permission bits enforced: as root, d is opened to
  -- nobody, who makes the failing call through as_user.
  local function user_it(name, fn)
    it(name, function()
      if AS_ROOT then
        sh("chmod 755 '" .. top .. "' '" .. d .. "'")
      end
      fn()
    end)
  end

  describe("tmpdir", function()
    it("makes a new empty directory with the prefix", function()
      local a = assert(fs.tmpdir("pre-", top))
      local b = assert(fs.tmpdir("pre-", top))
      assert.are_not.equal(a, b)
      assert.truthy(a:match("^" .. top:gsub("%p", "%%%0") .. "/pre%-......$"))
      assert.are.equal("dir", fs.stat(a).type)
      assert.are.equal(448, fs.stat(a).mode)
      assert.are.same({}, fs.listdir(a))
    end)

    it("defaults to $TMPDIR or /tmp and the prefix sw-", function()
      local a = assert(fs.tmpdir())
      local base = os.getenv("TMPDIR") or "/tmp"
      assert.are.equal(base .. "/sw-", a:sub(1, #base + 4))
      assert(fs.rmtree(a))
    end)

    it("takes an absolute prefix alone, as Python's mkdtemp joins them", function()
      local a = assert(fs.tmpdir(d .. "/abs-", "/nonexistent"))
      assert.are.equal(d .. "/abs-", a:sub(1, #d + 5))
      assert.are.equal(#d + 11, #a)
      assert.are.equal("dir", fs.stat(a).type)
      local b = assert(fs.tmpdir("sub-", d))
      local c = assert(fs.tmpdir(b:match("[^/]+$") .. "/rel-", d))
      assert.are.equal(b .. "/rel-", c:sub(1, #b + 5))
    end)

    it("fails in a missing directory", function()
      fails("fs.tmpdir: " .. d .. "/missing/x-XXXXXX: No such file or directory", "ENOENT",
        fs.tmpdir("x-", d .. "/missing"))
      fails("fs.tmpdir: " .. d .. "/missing/y-XXXXXX: No such file or directory", "ENOENT",
        fs.tmpdir(d .. "/missing/y-"))
    end)
  end)

  describe("mkdirp", function()
    it("creates every missing directory and accepts existing ones", function()
      assert.is_true(fs.mkdirp(d .. "/a/b/c"))
      assert.are.equal("dir", fs.stat(d .. "/a/b/c").type)
      assert.is_true(fs.mkdirp(d .. "/a/b/c"))
      assert.is_true(fs.mkdirp(d .. "/a//x/./y/"))
      assert.are.equal("dir", fs.stat(d .. "/a/x/y").type)
      assert.is_true(fs.mkdirp("/"))
    end)

    it("applies the mode, given as octal text or a number", function()
      assert(fs.mkdirp(d .. "/m1", "700"))
      assert.are.equal(448, fs.stat(d .. "/m1").mode)
      assert(fs.mkdirp(d .. "/m2", 493))
      assert.are.equal(493, fs.stat(d .. "/m2").mode)
      assert.has_error(function()
        fs.mkdirp(d .. "/m3", "79")
      end, "bad argument #2 to 'mkdirp' (invalid mode (expected octal))")
      assert.has_error(function()
        fs.mkdirp(d .. "/m3", 4096)
      end, "bad argument #2 to 'mkdirp' (mode out of range)")
    end)

    it("follows a symbolic link to a directory", function()
      assert(fs.mkdirp(d .. "/real"))
      assert(fs.symlink("real", d .. "/link"))
      assert.is_true(fs.mkdirp(d .. "/link/sub"))
      assert.are.equal("dir", fs.lstat(d .. "/real/sub").type)
    end)

    it("fails on a file in the way, naming the path", function()
      write(d .. "/f", "x")
      fails("fs.mkdirp: " .. d .. "/f: File exists", "EEXIST", fs.mkdirp(d .. "/f"))
      fails("fs.mkdirp: " .. d .. "/f/x/y: Not a directory", "ENOTDIR", fs.mkdirp(d .. "/f/x/y"))
    end)

    it("fails where the file system refuses", function()
      fails("fs.mkdirp: /proc/sw-no/such: No such file or directory", "ENOENT",
        fs.mkdirp("/proc/sw-no/such"))
    end)

    user_it("reports EACCES in a directory it may not write", function()
      assert(fs.mkdirp(d .. "/ro", "500"))
      fails("fs.mkdirp: " .. d .. "/ro/x/y: Permission denied", "EACCES", as_user("mkdirp", d .. "/ro/x/y"))
    end)
  end)

  describe("exists, stat and lstat", function()
    it("exists follows links and never fails", function()
      write(d .. "/f", "x")
      assert(fs.symlink("f", d .. "/good"))
      assert(fs.symlink("nothing", d .. "/broken"))
      assert.is_true(fs.exists(d .. "/f"))
      assert.is_true(fs.exists(d))
      assert.is_true(fs.exists(d .. "/good"))
      assert.is_false(fs.exists(d .. "/broken"))
      assert.is_false(fs.exists(d .. "/missing"))
      assert.is_false(fs.exists(d .. "/f/under-a-file"))
    end)

    it("stat gives type, size, mode, mtime, uid, gid and ino", function()
      write(d .. "/f", "hello")
      sh("chmod 640 '" .. d .. "/f' && touch -m -d @1000000000 '" .. d .. "/f'")
      local st = assert(fs.stat(d .. "/f"))
      assert.are.equal("file", st.type)
      assert.are.equal(5, st.size)
      assert.are.equal(416, st.mode)
      assert.are.equal(1000000000, st.mtime)
      assert.are.equal("number", math.type(st.uid) and "number")
      assert.are.equal("integer", math.type(st.gid))
      -- ino changes when a file is replaced (an atomic write renames a
      -- new file over it), which is how a digest taken earlier is known
      -- to be stale.
      local ino = io.popen("stat -c %i '" .. d .. "/f'"):read("n")
      assert.are.equal(ino, st.ino)
      assert(fs.write_file_atomic(d .. "/f", "hello"))
      assert.are_not.equal(ino, fs.stat(d .. "/f").ino)
      assert.are.equal("dir", fs.stat(d).type)
      assert.are.equal("other", fs.stat("/dev/null").type)
    end)

    it("lstat describes the link, stat its target", function()
      write(d .. "/f", "hello")
      assert(fs.symlink("f", d .. "/l"))
      assert.are.equal("link", fs.lstat(d .. "/l").type)
      assert.are.equal(1, fs.lstat(d .. "/l").size)
      assert.are.equal("file", fs.stat(d .. "/l").type)
      assert.are.equal(5, fs.stat(d .. "/l").size)
    end)

    it("fails on a missing path with the errno", function()
      for _, fn in ipairs({ "stat", "lstat" }) do
        fails("fs." .. fn .. ": " .. d .. "/missing: No such file or directory", "ENOENT",
          fs[fn](d .. "/missing"))
      end
    end)

    it("raises on a path with a NUL byte", function()
      assert.has_error(function()
        fs.stat("a\0b")
      end, "bad argument #1 to 'stat' (path contains a NUL byte)")
    end)
  end)

  describe("readlink and realpath", function()
    it("readlink returns the target as written, however long", function()
      assert(fs.symlink("../x/y", d .. "/l"))
      assert.are.equal("../x/y", fs.readlink(d .. "/l"))
      local long = string.rep("n", 200) .. "/" .. string.rep("m", 200)
      assert(fs.symlink(long, d .. "/long"))
      assert.are.equal(long, fs.readlink(d .. "/long"))
    end)

    it("readlink fails on a file that is not a link", function()
      write(d .. "/f", "")
      fails("fs.readlink: " .. d .. "/f: Invalid argument", "EINVAL", fs.readlink(d .. "/f"))
    end)

    it("realpath resolves links, . and ..", function()
      assert(fs.mkdirp(d .. "/a/b"))
      assert(fs.symlink("a/b", d .. "/l"))
      assert.are.equal(d .. "/a/b", fs.realpath(d .. "/l"))
      assert.are.equal(d .. "/a", fs.realpath(d .. "/a/./b/.."))
      fails("fs.realpath: " .. d .. "/missing: No such file or directory", "ENOENT",
        fs.realpath(d .. "/missing"))
    end)
  end)

  describe("read_file", function()
    it("reads binary contents of any size", function()
      local data = pseudo_random(200003) .. "\0\r\n\0"
      write(d .. "/bin", data)
      assert.are.equal(data, fs.read_file(d .. "/bin"))
      write(d .. "/empty", "")
      assert.are.equal("", fs.read_file(d .. "/empty"))
    end)

    it("allows exactly max_bytes and refuses one more", function()
      write(d .. "/f", "0123456789")
      assert.are.equal("0123456789", fs.read_file(d .. "/f", 10))
      fails("fs.read_file: " .. d .. "/f: file too large: more than 9 bytes", "limit",
        fs.read_file(d .. "/f", 9))
    end)

    it("enforces max_bytes on files whose size stat does not know", function()
      fails("fs.read_file: /proc/self/status: file too large: more than 10 bytes", "limit",
        fs.read_file("/proc/self/status", 10))
      assert.truthy(fs.read_file("/proc/self/status"):find("Pid:", 1, true))
    end)

    it("fails on a missing file or a directory", function()
      fails("fs.read_file: " .. d .. "/missing: No such file or directory", "ENOENT",
        fs.read_file(d .. "/missing"))
      fails("fs.read_file: " .. d .. ": Is a directory", "EISDIR", fs.read_file(d))
    end)

    it("raises on a negative limit", function()
      assert.has_error(function()
        fs.read_file(d, -5)
      end, "bad argument #2 to 'read_file' (negative size limit)")
    end)
  end)

  describe("write_file_atomic", function()
    it("creates the file with mode 0644 and replaces it whole", function()
      assert.is_true(fs.write_file_atomic(d .. "/f", "first"))
      assert.are.equal("first", support.read(d .. "/f"))
      assert.are.equal(420, fs.stat(d .. "/f").mode)
      assert.is_true(fs.write_file_atomic(d .. "/f", "2nd\0"))
      assert.are.equal("2nd\0", support.read(d .. "/f"))
      assert.are.same({ "f" }, fs.listdir(d))
    end)

    it("takes a mode", function()
      assert(fs.write_file_atomic(d .. "/secret", "k", "600"))
      assert.are.equal(384, fs.stat(d .. "/secret").mode)
    end)

    it("replaces a symbolic link instead of writing through it", function()
      write(d .. "/outside", "keep")
      assert(fs.mkdirp(d .. "/in"))
      assert(fs.symlink(d .. "/outside", d .. "/in/f"))
      assert(fs.write_file_atomic(d .. "/in/f", "new"))
      assert.are.equal("keep", support.read(d .. "/outside"))
      assert.are.equal("file", fs.lstat(d .. "/in/f").type)
      assert.are.equal("new", support.read(d .. "/in/f"))
    end)

    it("leaves no temp file when the target is a directory", function()
      assert(fs.mkdirp(d .. "/target/x"))
      fails("fs.write_file_atomic: " .. d .. "/target: Is a directory", "EISDIR",
        fs.write_file_atomic(d .. "/target", "data"))
      assert.are.same({ "target" }, fs.listdir(d))
      assert.are.same({ "x" }, fs.listdir(d .. "/target"))
    end)

    it("fails when the directory is missing or the path ends in /", function()
      fails("fs.write_file_atomic: " .. d .. "/no/f: No such file or directory", "ENOENT",
        fs.write_file_atomic(d .. "/no/f", "x"))
      fails("fs.write_file_atomic: " .. d .. "/f/: Is a directory", "EISDIR",
        fs.write_file_atomic(d .. "/f/", "x"))
      assert.are.same({}, fs.listdir(d))
    end)

    user_it("leaves no temp file in a directory it may not write", function()
      assert(fs.mkdirp(d .. "/ro"))
      write(d .. "/ro/f", "old")
      sh("chmod 500 '" .. d .. "/ro'")
      fails("fs.write_file_atomic: " .. d .. "/ro/f: Permission denied", "EACCES",
        as_user("write_file_atomic", d .. "/ro/f", "new"))
      assert.are.same({ "f" }, fs.listdir(d .. "/ro"))
      assert.are.equal("old", support.read(d .. "/ro/f"))
    end)
  end)

  describe("copy_file", function()
    it("copies the bytes and the permission bits", function()
      local data = pseudo_random(150001)
      write(d .. "/src", data)
      sh("chmod 640 '" .. d .. "/src'")
      assert.is_true(fs.copy_file(d .. "/src", d .. "/dst"))
      assert.are.equal(data, support.read(d .. "/dst"))
      assert.are.equal(416, fs.stat(d .. "/dst").mode)
      assert.are.same({ "dst", "src" }, fs.listdir(d))
    end)

    it("takes a mode and replaces an existing file", function()
      write(d .. "/src", "new")
      write(d .. "/dst", "old contents")
      assert(fs.copy_file(d .. "/src", d .. "/dst", "755"))
      assert.are.equal("new", support.read(d .. "/dst"))
      assert.are.equal(493, fs.stat(d .. "/dst").mode)
    end)

    it("names the source or the destination that failed", function()
      fails("fs.copy_file: " .. d .. "/missing: No such file or directory", "ENOENT",
        fs.copy_file(d .. "/missing", d .. "/dst"))
      fails("fs.copy_file: " .. d .. ": Is a directory", "EISDIR", fs.copy_file(d, d .. "/dst"))
      write(d .. "/src", "x")
      fails("fs.copy_file: " .. d .. "/no/dst: No such file or directory", "ENOENT",
        fs.copy_file(d .. "/src", d .. "/no/dst"))
      assert.are.same({ "src" }, fs.listdir(d))
    end)
  end)

  describe("rename, remove, chmod, symlink and listdir", function()
    it("rename moves and names both paths on failure", function()
      write(d .. "/a", "x")
      assert.is_true(fs.rename(d .. "/a", d .. "/b"))
      assert.are.same({ "b" }, fs.listdir(d))
      fails("fs.rename: " .. d .. "/a -> " .. d .. "/c: No such file or directory", "ENOENT",
        fs.rename(d .. "/a", d .. "/c"))
    end)

    it("remove deletes a file or an empty directory, nothing more", function()
      write(d .. "/f", "x")
      assert(fs.mkdirp(d .. "/empty"))
      assert(fs.mkdirp(d .. "/full/x"))
      assert.is_true(fs.remove(d .. "/f"))
      assert.is_true(fs.remove(d .. "/empty"))
      fails("fs.remove: " .. d .. "/full: Directory not empty", "ENOTEMPTY",
        fs.remove(d .. "/full"))
      fails("fs.remove: " .. d .. "/f: No such file or directory", "ENOENT", fs.remove(d .. "/f"))
      assert.are.same({ "full" }, fs.listdir(d))
    end)

    it("chmod sets the mode and needs one", function()
      write(d .. "/f", "x")
      assert.is_true(fs.chmod(d .. "/f", "751"))
      assert.are.equal(489, fs.stat(d .. "/f").mode)
      fails("fs.chmod: " .. d .. "/missing: No such file or directory", "ENOENT",
        fs.chmod(d .. "/missing", 420))
      assert.has_error(function()
        fs.chmod(d .. "/f")
      end, "bad argument #2 to 'chmod' (value expected)")
    end)

    it("symlink makes a link and refuses to replace one", function()
      assert.is_true(fs.symlink("target", d .. "/l"))
      assert.are.equal("target", fs.readlink(d .. "/l"))
      fails("fs.symlink: " .. d .. "/l -> other: File exists", "EEXIST",
        fs.symlink("other", d .. "/l"))
    end)

    it("listdir sorts names bytewise, without . and ..", function()
      for _, name in ipairs({ "b", "B", "a-c", "a.txt", "\xc3\xa9", "_x", "a" }) do
        write(d .. "/" .. name, "")
      end
      assert.are.same({ "B", "_x", "a", "a-c", "a.txt", "b", "\xc3\xa9" }, fs.listdir(d))
      fails("fs.listdir: " .. d .. "/missing: No such file or directory", "ENOENT",
        fs.listdir(d .. "/missing"))
      fails("fs.listdir: " .. d .. "/b: Not a directory", "ENOTDIR", fs.listdir(d .. "/b"))
    end)
  end)

  describe("walk", function()
    -- Sorted whole paths differ from a walk that sorts each directory:
    -- "a-c" and "a.txt" come before "a/..." ('-' and '.' < '/'), "a0" after.
    local files = { "a-c", "a.txt", "a/b/x", "a/b/c/y", "B", "\xc3\xa9", "_x", "a0", "Z/z" }
    local sorted = { "B", "Z/z", "_x", "a-c", "a.txt", "a/b/c/y", "a/b/x", "a0", "\xc3\xa9" }

    local function make_tree(root)
      for _, f in ipairs(files) do
        local dir = (root .. "/" .. f):match("^(.*)/[^/]*$")
        assert(fs.mkdirp(dir))
        write(root .. "/" .. f, f)
      end
    end

    it("lists files recursively, sorted like Python's sorted()", function()
      make_tree(d)
      assert.are.same(sorted, fs.walk(d))
      assert.are.same(sorted, fs.walk(d .. "/"))
    end)

    it("adds directories with dirs, or lists only them", function()
      make_tree(d)
      assert.are.same({ "B", "Z", "Z/z", "_x", "a", "a-c", "a.txt", "a/b", "a/b/c",
        "a/b/c/y", "a/b/x", "a0", "\xc3\xa9" }, fs.walk(d, { dirs = true }))
      assert.are.same({ "Z", "a", "a/b", "a/b/c" }, fs.walk(d, { dirs = true, files = false }))
    end)

    it("gives path, type, size and mode with info", function()
      assert(fs.mkdirp(d .. "/sub"))
      write(d .. "/sub/f", "12345")
      sh("chmod 600 '" .. d .. "/sub/f'")
      assert(fs.symlink("sub/f", d .. "/l"))
      local entries = fs.walk(d, { info = true, dirs = true })
      assert.are.equal(3, #entries)
      assert.are.same({ "l", "sub", "sub/f" },
        { entries[1].path, entries[2].path, entries[3].path })
      assert.are.same({ "link", "dir", "file" },
        { entries[1].type, entries[2].type, entries[3].type })
      assert.are.equal(5, entries[1].size) -- the length of "sub/f"
      assert.are.equal(5, entries[3].size)
      assert.are.equal(384, entries[3].mode)
      assert.are.equal("number", type(entries[3].mtime))
    end)

    it("lists links as links and does not enter them", function()
      local outside = assert(fs.tmpdir("out-", top))
      write(outside .. "/secret", "s")
      write(d .. "/f", "x")
      assert(fs.symlink(outside, d .. "/dirlink"))
      assert(fs.symlink("f", d .. "/filelink"))
      assert(fs.symlink("nothing", d .. "/broken"))
      assert.are.same({ "broken", "dirlink", "f", "filelink" }, fs.walk(d))
      local types = {}
      for _, e in ipairs(fs.walk(d, { info = true })) do
        types[e.path] = e.type
      end
      assert.are.same({ broken = "link", dirlink = "link", f = "file", filelink = "link" }, types)
    end)

    it("enters links to directories with follow", function()
      local outside = assert(fs.tmpdir("out-", top))
      write(outside .. "/secret", "s")
      write(d .. "/f", "x")
      assert(fs.symlink(outside, d .. "/dirlink"))
      assert(fs.symlink("f", d .. "/filelink"))
      assert(fs.symlink("nothing", d .. "/broken"))
      local types = {}
      for _, e in ipairs(fs.walk(d, { info = true, follow = true, dirs = true })) do
        types[e.path] = e.type
      end
      assert.are.same({ broken = "link", dirlink = "dir", ["dirlink/secret"] = "file",
        f = "file", filelink = "file" }, types)
    end)

    it("refuses a link loop with follow, and ignores it without", function()
      assert(fs.mkdirp(d .. "/a"))
      assert(fs.symlink("..", d .. "/a/up"))
      assert.are.same({ "a/up" }, fs.walk(d))
      fails("fs.walk: " .. d .. "/a/up: Too many levels of symbolic links", "ELOOP",
        fs.walk(d, { follow = true }))
    end)

    it("returns an empty list for an empty directory", function()
      assert.are.same({}, fs.walk(d))
    end)

    it("fails on a missing root or a file", function()
      fails("fs.walk: " .. d .. "/missing: No such file or directory", "ENOENT",
        fs.walk(d .. "/missing"))
      write(d .. "/f", "")
      fails("fs.walk: " .. d .. "/f: Not a directory", "ENOTDIR", fs.walk(d .. "/f"))
    end)

    user_it("names the directory it could not read", function()
      assert(fs.mkdirp(d .. "/a/locked"))
      sh("chmod 000 '" .. d .. "/a/locked'")
      fails("fs.walk: " .. d .. "/a/locked: Permission denied", "EACCES", as_user("walk", d))
    end)

    it("raises on options of the wrong type", function()
      assert.has_error(function()
        fs.walk(d, { dirs = "yes" })
      end, "bad argument #2 to 'walk' (opts.dirs: expected boolean, got string)")
      assert.has_error(function()
        fs.walk(d, true)
      end, "bad argument #2 to 'walk' (table expected, got boolean)")
    end)
  end)

  describe("rmtree", function()
    it("removes a whole tree", function()
      assert(fs.mkdirp(d .. "/t/a/b/c"))
      assert(fs.mkdirp(d .. "/t/empty"))
      write(d .. "/t/a/f", "x")
      write(d .. "/t/a/b/c/g", "y")
      assert(fs.symlink("a/f", d .. "/t/l"))
      sh("mkfifo '" .. d .. "/t/a/fifo'")
      assert.is_true(fs.rmtree(d .. "/t"))
      assert.is_false(fs.exists(d .. "/t"))
      assert.are.same({}, fs.listdir(d))
    end)

    it("succeeds when the path is already gone", function()
      assert.is_true(fs.rmtree(d .. "/missing"))
    end)

    it("removes a single file", function()
      write(d .. "/f", "x")
      assert.is_true(fs.rmtree(d .. "/f"))
      assert.are.same({}, fs.listdir(d))
    end)

    it("unlinks links to directories outside and leaves the outside alone", function()
      local outside = assert(fs.tmpdir("out-", top))
      write(outside .. "/keep", "k")
      assert(fs.mkdirp(d .. "/t/sub"))
      assert(fs.symlink(outside, d .. "/t/abs"))
      assert(fs.symlink("../../../" .. outside:match("[^/]+$"), d .. "/t/sub/rel"))
      assert.are.equal(outside, fs.realpath(d .. "/t/sub/rel"))
      assert.is_true(fs.rmtree(d .. "/t"))
      assert.is_false(fs.exists(d .. "/t"))
      assert.are.equal("k", support.read(outside .. "/keep"))
      assert.are.same({ "keep" }, fs.listdir(outside))
    end)

    it("unlinks the link when the path itself is a link", function()
      local outside = assert(fs.tmpdir("out-", top))
      write(outside .. "/keep", "k")
      assert(fs.symlink(outside, d .. "/l"))
      assert.is_true(fs.rmtree(d .. "/l"))
      assert.are.same({}, fs.listdir(d))
      assert.are.same({ "keep" }, fs.listdir(outside))
    end)

    it("removes deep trees and many entries", function()
      local p = d .. "/deep"
      for _ = 1, 100 do
        p = p .. "/d"
      end
      assert(fs.mkdirp(p))
      for i = 1, 300 do
        write(d .. "/deep/f" .. i, "")
      end
      assert.is_true(fs.rmtree(d .. "/deep"))
      assert.are.same({}, fs.listdir(d))
    end)

    it("removes a tree deeper than the C stack would allow recursing", function()
      -- rmtree used to recurse once per level (~220 bytes of stack each):
      -- with a high descriptor limit a task could make a tree deep enough
      -- to crash the worker cleaning up after it. A 128 KiB stack shows it
      -- with 900 levels (fewer descriptors than the usual 1024 limit).
      local p = d .. "/deep"
      for _ = 1, 900 do
        p = p .. "/d"
      end
      assert(fs.mkdirp(p))
      local bin = os.getenv("SW_BIN") or (support.root .. "/build/scriptworker")
      local code = string.format("print(require('sw.fs').rmtree(%q))", d .. "/deep")
      local cmd = string.format("ulimit -s 128 && exec %q lua -e %q 2>&1", bin, code)
      local pipe = assert(io.popen("sh -c '" .. cmd:gsub("'", "'\\''") .. "'"))
      local out = pipe:read("a")
      pipe:close()
      assert.are.equal("true\n", out)
      assert.are.same({}, fs.listdir(d))
    end)

    user_it("names the entry it could not remove", function()
      assert(fs.mkdirp(d .. "/t/locked"))
      write(d .. "/t/locked/f", "x")
      sh("chmod 500 '" .. d .. "/t/locked'")
      fails("fs.rmtree: " .. d .. "/t/locked/f: Permission denied", "EACCES", as_user("rmtree", d .. "/t"))
    end)
  end)

  describe("safe_join", function()
    it("joins a relative path that stays inside, existing or not", function()
      assert(fs.mkdirp(d .. "/a"))
      assert.are.equal(d .. "/a/b.txt", fs.safe_join(d, "a/b.txt"))
      assert.are.equal(d .. "/new/dir/file", fs.safe_join(d, "new/dir/file"))
      assert.are.equal(d .. "/a", fs.safe_join(d .. "/", "a"))
    end)

    it("drops empty and . components", function()
      assert.are.equal(d .. "/a/b/c", fs.safe_join(d, "a//b/./c/"))
      assert.are.equal(d .. "/x", fs.safe_join(d .. "//", "./x"))
    end)

    it("refuses absolute paths, .. anywhere, empty paths and NUL bytes", function()
      local cases = {
        { "/etc/passwd", "fs.safe_join: /etc/passwd: absolute path refused" },
        { "../x", 'fs.safe_join: ../x: ".." component refused' },
        { "a/../b", 'fs.safe_join: a/../b: ".." component refused' },
        { "a/..", 'fs.safe_join: a/..: ".." component refused' },
        { "", "fs.safe_join: : empty path refused" },
        { "./", "fs.safe_join: ./: empty path refused" },
        { "a\0b", "fs.safe_join: a: NUL byte refused" },
      }
      for _, c in ipairs(cases) do
        fails(c[2], "unsafe", fs.safe_join(d, c[1]))
      end
      assert.are.equal(d .. "/a..b/..c", fs.safe_join(d, "a..b/..c"))
    end)

    it("refuses a link with an absolute target outside", function()
      assert(fs.symlink("/etc", d .. "/etc"))
      fails("fs.safe_join: etc/passwd: resolves to /etc/passwd, outside " .. d, "unsafe",
        fs.safe_join(d, "etc/passwd"))
      fails("fs.safe_join: etc: resolves to /etc, outside " .. d, "unsafe", fs.safe_join(d, "etc"))
    end)

    it("refuses a relative link that climbs out", function()
      assert(fs.mkdirp(d .. "/a/b"))
      assert(fs.symlink("../../..", d .. "/a/b/up"))
      local parent = d:match("^(.*)/[^/]+$")
      fails("fs.safe_join: a/b/up/x: resolves to " .. parent .. "/x, outside " .. d, "unsafe",
        fs.safe_join(d, "a/b/up/x"))
      assert(fs.symlink("../../../../../../../../../../etc/shadow", d .. "/a/shadow"))
      fails("fs.safe_join: a/shadow: resolves to /etc/shadow, outside " .. d, "unsafe",
        fs.safe_join(d, "a/shadow"))
    end)

    it("refuses a final component that links outside, even dangling", function()
      assert(fs.symlink("/nonexistent/file", d .. "/dangling"))
      fails("fs.safe_join: dangling: resolves to /nonexistent/file, outside " .. d, "unsafe",
        fs.safe_join(d, "dangling"))
    end)

    it("refuses a chain of links that ends outside", function()
      local outside = assert(fs.realpath(assert(fs.tmpdir("out-", top))))
      assert(fs.symlink("l2", d .. "/l1"))
      assert(fs.symlink("sub/l3", d .. "/l2"))
      assert(fs.mkdirp(d .. "/sub"))
      assert(fs.symlink(outside, d .. "/sub/l3"))
      fails("fs.safe_join: l1/f: resolves to " .. outside .. "/f, outside " .. d, "unsafe",
        fs.safe_join(d, "l1/f"))
    end)

    it("allows links that stay inside, chains included", function()
      assert(fs.mkdirp(d .. "/real/deeper"))
      assert(fs.symlink("real", d .. "/in"))
      assert(fs.symlink("../in/deeper", d .. "/real/hop"))
      assert(fs.symlink(d .. "/real", d .. "/abs-in"))
      assert(fs.symlink(".", d .. "/self"))
      assert(fs.symlink("real/missing-yet", d .. "/dangling-in"))
      assert.are.equal(d .. "/in/f", fs.safe_join(d, "in/f"))
      assert.are.equal(d .. "/in/hop/f", fs.safe_join(d, "in/hop/f"))
      assert.are.equal(d .. "/abs-in/f", fs.safe_join(d, "abs-in/f"))
      assert.are.equal(d .. "/self/self/f", fs.safe_join(d, "self/self/f"))
      assert.are.equal(d .. "/self", fs.safe_join(d, "self"))
      assert.are.equal(d .. "/dangling-in", fs.safe_join(d, "dangling-in"))
    end)

    it("allows a link that leaves and comes back inside", function()
      local name = d:match("[^/]+$")
      assert(fs.mkdirp(d .. "/x"))
      assert(fs.symlink("../../" .. name .. "/x", d .. "/x/back"))
      assert.are.equal(d .. "/x/back/f", fs.safe_join(d, "x/back/f"))
    end)

    it("accepts a root that is itself a link", function()
      assert(fs.mkdirp(d .. "/real"))
      assert(fs.symlink(d .. "/real", d .. "/root-link"))
      assert.are.equal(d .. "/root-link/a", fs.safe_join(d .. "/root-link", "a"))
      assert(fs.symlink("..", d .. "/real/up"))
      fails("fs.safe_join: up/x: resolves to " .. d .. "/x, outside " .. d .. "/real", "unsafe",
        fs.safe_join(d .. "/root-link", "up/x"))
    end)

    it("refuses a link loop", function()
      assert(fs.symlink("b", d .. "/a"))
      assert(fs.symlink("a", d .. "/b"))
      fails("fs.safe_join: a/x: Too many levels of symbolic links", "unsafe",
        fs.safe_join(d, "a/x"))
    end)

    it("fails on a missing root", function()
      fails("fs.safe_join: " .. d .. "/missing: No such file or directory", "ENOENT",
        fs.safe_join(d .. "/missing", "a"))
    end)
  end)

  describe("gzip", function()
    local data = pseudo_random(100000) .. string.rep("compressible ", 20000) .. "\0end"

    it("round-trips strings byte for byte", function()
      for _, s in ipairs({ "", "x", data }) do
        assert.are.equal(s, fs.gunzip_string(fs.gzip_string(s)))
      end
      for _, level in ipairs({ 0, 1, 9 }) do
        assert.are.equal(data, fs.gunzip_string(fs.gzip_string(data, level)))
      end
      assert.is_true(#fs.gzip_string(data, 9) < #data)
    end)

    it("writes a deterministic gzip header (no name, mtime 0, Unix)", function()
      local z = fs.gzip_string("x")
      assert.are.equal("\31\139\8\0\0\0\0\0\0\3", z:sub(1, 10))
      assert.are.equal(z, fs.gzip_string("x"))
    end)

    it("raises on a level out of range", function()
      assert.has_error(function()
        fs.gzip_string("x", 10)
      end, "bad argument #2 to 'gzip_string' (level must be -1 to 9)")
    end)

    it("reads what gzip(1) writes, several members and zero padding", function()
      write(d .. "/plain", data)
      sh("gzip -c -9 '" .. d .. "/plain' > '" .. d .. "/plain.gz'")
      local z = support.read(d .. "/plain.gz")
      assert.are.equal(data, fs.gunzip_string(z))
      assert.are.equal(data .. data, fs.gunzip_string(z .. z))
      assert.are.equal(data, fs.gunzip_string(z .. "\0\0\0\0"))
      assert.are.equal("ab", fs.gunzip_string(fs.gzip_string("a") .. "\0" .. fs.gzip_string("b")))
    end)

    it("refuses data that is not gzip, truncated or corrupt", function()
      local z = fs.gzip_string("hello world")
      local bad_crc = z:sub(1, -9) .. string.char(z:byte(-8) ~ 1) .. z:sub(-7)
      local cases = {
        { "not gzip", "fs.gunzip_string: invalid gzip data: incorrect header check" },
        { z:sub(1, -2), "fs.gunzip_string: invalid gzip data: unexpected end of data" },
        { z .. "junk", "fs.gunzip_string: invalid gzip data: incorrect header check" },
        { bad_crc, "fs.gunzip_string: invalid gzip data: incorrect data check" },
      }
      for _, c in ipairs(cases) do
        fails(c[2], "parse", fs.gunzip_string(c[1]))
      end
    end)

    it("stops a zip bomb at max_bytes", function()
      local bomb = fs.gzip_string(string.rep("\0", 16 * 1024 * 1024), 9)
      assert.is_true(#bomb < 20000)
      fails("fs.gunzip_string: output too large: more than 1048576 bytes", "limit",
        fs.gunzip_string(bomb, 1024 * 1024))
    end)

    it("allows exactly max_bytes and refuses one more", function()
      local z = fs.gzip_string("0123456789")
      assert.are.equal("0123456789", fs.gunzip_string(z, 10))
      fails("fs.gunzip_string: output too large: more than 9 bytes", "limit",
        fs.gunzip_string(z, 9))
    end)

    it("gzips and gunzips files, readable by gzip(1)", function()
      write(d .. "/f", data)
      sh("chmod 640 '" .. d .. "/f'")
      assert.is_true(fs.gzip_file(d .. "/f", d .. "/f.gz"))
      assert.are.equal(416, fs.stat(d .. "/f.gz").mode)
      sh("gzip -dc '" .. d .. "/f.gz' | cmp -s - '" .. d .. "/f'")
      assert.is_true(fs.gunzip_file(d .. "/f.gz", d .. "/back"))
      assert.are.equal(data, support.read(d .. "/back"))
      assert.are.same({ "back", "f", "f.gz" }, fs.listdir(d))
    end)

    it("gzips a file in place", function()
      write(d .. "/f", data)
      assert.is_true(fs.gzip_file(d .. "/f", d .. "/f", 1))
      assert.are.equal(data, fs.gunzip_string(support.read(d .. "/f")))
      assert.are.same({ "f" }, fs.listdir(d))
    end)

    it("leaves nothing behind when gunzip_file hits the limit or bad data", function()
      write(d .. "/bomb.gz", fs.gzip_string(string.rep("\0", 4 * 1024 * 1024)))
      fails("fs.gunzip_file: " .. d .. "/bomb.gz: output too large: more than "
        .. "65536 bytes", "limit",
        fs.gunzip_file(d .. "/bomb.gz", d .. "/out", 65536))
      write(d .. "/bad.gz", "this is not gzip")
      fails("fs.gunzip_file: " .. d .. "/bad.gz: invalid gzip data: "
        .. "incorrect header check", "parse",
        fs.gunzip_file(d .. "/bad.gz", d .. "/out"))
      assert.are.same({ "bad.gz", "bomb.gz" }, fs.listdir(d))
    end)

    it("names the path that failed", function()
      fails("fs.gzip_file: " .. d .. "/missing: No such file or directory", "ENOENT",
        fs.gzip_file(d .. "/missing", d .. "/x.gz"))
      write(d .. "/f", "x")
      fails("fs.gzip_file: " .. d .. "/no/x.gz: No such file or directory", "ENOENT",
        fs.gzip_file(d .. "/f", d .. "/no/x.gz"))
      fails("fs.gunzip_file: " .. d .. "/missing.gz: No such file or directory", "ENOENT",
        fs.gunzip_file(d .. "/missing.gz", d .. "/x"))
    end)

    it("takes opts.fsync and checks its type", function()
      write(d .. "/f", data)
      assert.is_true(fs.gzip_file(d .. "/f", d .. "/f.gz", 1, { fsync = false }))
      assert.are.equal(data, fs.gunzip_string(support.read(d .. "/f.gz")))
      assert.is_true(fs.copy_file(d .. "/f", d .. "/g", nil, { fsync = false }))
      assert.are.equal(data, support.read(d .. "/g"))
      assert.has_error(function()
        fs.gzip_file(d .. "/f", d .. "/f.gz", 1, { fsync = "no" })
      end, "bad argument #4 to 'gzip_file' (opts.fsync: expected boolean, got string)")
      assert.has_error(function()
        fs.copy_file(d .. "/f", d .. "/g", nil, false)
      end, "bad argument #4 to 'copy_file' (table expected, got boolean)")
    end)
  end)

  describe("inside a task (thread pool)", function()
    local big

    setup(function()
      big = pseudo_random(4099):rep(2000)
    end)

    it("gives the same results and errors", async(function()
      write(d .. "/f", big)
      assert.is_true(fs.copy_file(d .. "/f", d .. "/c", "600"))
      assert.are.equal(big, support.read(d .. "/c"))
      assert.are.equal(384, fs.stat(d .. "/c").mode)
      assert.is_true(fs.gzip_file(d .. "/f", d .. "/f.gz", 1, { fsync = false }))
      assert.are.equal(big, fs.gunzip_string(support.read(d .. "/f.gz"), #big))
      fails("fs.copy_file: " .. d .. "/missing: No such file or directory", "ENOENT",
        fs.copy_file(d .. "/missing", d .. "/x"))
      fails("fs.gzip_file: " .. d .. "/no/x.gz: No such file or directory", "ENOENT",
        fs.gzip_file(d .. "/f", d .. "/no/x.gz"))
      fails("fs.rmtree: /: refusing to remove /", "unsafe", fs.rmtree("/"))
      assert(fs.mkdirp(d .. "/t/a/b"))
      write(d .. "/t/a/b/f", "x")
      assert.is_true(fs.rmtree(d .. "/t"))
      assert.is_false(fs.exists(d .. "/t"))
      -- snapshot: the same answer as outside a task
      assert(fs.mkdirp(d .. "/s/sub"))
      write(d .. "/s/sub/f", big)
      write(d .. "/s/a", "a")
      assert(fs.symlink("/etc/hostname", d .. "/s/out"))
      local files, refused = fs.snapshot(d .. "/s", d .. "/s2", { d .. "/s/a" })
      assert.are.same({ { name = "sub/f", size = #big, ino = fs.stat(d .. "/s2/sub/f").ino,
        sha256 = hash.string(big, "sha256"), sha512 = hash.string(big, "sha512") } }, files)
      assert.are.same({ { name = "a", why = "protected" }, { name = "out", why = "link" } }, refused)
      fails("fs.snapshot: " .. d .. "/s2: File exists", "EEXIST", fs.snapshot(d .. "/s", d .. "/s2"))
      fails("fs.snapshot: " .. d .. "/none: No such file or directory", "ENOENT",
        fs.snapshot(d .. "/none", d .. "/s3"))
    end))

    it("lets other tasks run while copying, gzipping, removing and snapshotting", async(function()
      write(d .. "/f", big)
      for i = 1, 40 do
        assert(fs.mkdirp(d .. "/tree/" .. i))
        write(d .. "/tree/" .. i .. "/f", "x")
      end
      local busy, seen = 0, 0
      local ticker = sched.spawn(function()
        while true do
          if busy > 0 then
            seen = seen + 1
          end
          sched.yield()
        end
      end)
      local ops = {
        function() return fs.gzip_file(d .. "/f", d .. "/f.gz", 9) end,
        function() return fs.copy_file(d .. "/f", d .. "/c") end,
        function() return fs.rmtree(d .. "/tree") end,
        function() return fs.snapshot(d .. "/snapsrc", d .. "/snapdst") end,
      }
      assert(fs.mkdirp(d .. "/snapsrc/x"))
      write(d .. "/snapsrc/x/big", big)
      for _, op in ipairs(ops) do
        -- Done inline, the call would end inside one resume of this task:
        -- the ticker could never see busy > 0.
        seen = 0
        busy = 1
        assert.truthy(op())
        busy = 0
        assert.is_true(seen > 0)
      end
      ticker:cancel()
      assert.are.equal(big, support.read(d .. "/c"))
      assert.is_false(fs.exists(d .. "/tree"))
    end))

    it("survives the task being cancelled mid-operation", async(function()
      write(d .. "/f", big)
      assert(fs.mkdirp(d .. "/src"))
      write(d .. "/src/f", big)
      for _, op in ipairs({
        function() return fs.gzip_file(d .. "/f", d .. "/f.gz", 9) end,
        function() return fs.snapshot(d .. "/src", d .. "/dst") end,
      }) do
        local t = sched.spawn(op)
        sched.yield()
        assert.is_true(t:cancel())
        assert.are.same({ false, "cancelled", "cancelled" }, { t:wait() })
      end
      -- The pool finishes (or skips) the jobs; the loop goes on.
      sched.sleep(0.05)
      assert.is_true(fs.copy_file(d .. "/f", d .. "/c"))
    end))
  end)
end)

describe("sw.fs against a hostile tree", function()
  local d

  -- write() with the parent directories made.
  local function put(path, data)
    assert(fs.mkdirp(path:match("^(.*)/[^/]*$")))
    write(path, data)
  end

  before_each(function()
    d = support.tmpdir()
  end)

  after_each(function()
    fs.rmtree(d)
  end)

  it("write_new replaces a planted symbolic or hard link instead of writing through it", function()
    write(d .. "/key", "secret")
    assert(fs.symlink(d .. "/key", d .. "/task.json"))
    assert(fs.write_new(d .. "/task.json", "{}"))
    sh("ln '" .. d .. "/key' '" .. d .. "/hard.json'")
    assert(fs.write_new(d .. "/hard.json", "[]", "600"))
    assert.are.same({ "secret", "file", "{}", "[]", tonumber("600", 8) },
      { fs.read_file(d .. "/key"), fs.lstat(d .. "/task.json").type, fs.read_file(d .. "/task.json"),
        fs.read_file(d .. "/hard.json"), fs.stat(d .. "/hard.json").mode })
    fails("fs.write_new: " .. d .. ": Is a directory", "EISDIR", fs.write_new(d, "x"))
  end)

  it("create keeps one file: rewrites go through the descriptor whatever happens to the name", function()
    write(d .. "/key", "secret")
    local f = assert(fs.create(d .. "/creds.json"))
    assert.are.equal(tonumber("600", 8), fs.stat(d .. "/creds.json").mode)
    assert(f:rewrite("first, longer"))
    local r = assert(f:reader())
    assert(fs.remove(d .. "/creds.json"))
    assert(fs.symlink(d .. "/key", d .. "/creds.json"))
    assert(f:rewrite("second"))
    assert.are.equal("secret", fs.read_file(d .. "/key"))
    assert.are.equal("second", fs.read_file("/proc/self/fd/" .. r:fd()))
    -- the reader cannot write
    local w = io.open("/proc/self/fd/" .. r:fd(), "r")
    assert.are.equal("second", w:read("a"))
    w:close()
    r:close()
    f:close()
    assert.has_error(function()
      f:rewrite("x")
    end, "fs.File: the file is closed")
  end)

  it("snapshot copies what it checked and refuses links out, hard links, protected files and specials", function()
    local src, dest = d .. "/src", d .. "/dest"
    write(d .. "/key", "secret key")
    put(src .. "/a.txt", "a")
    put(src .. "/sub/b.bin", "bb")
    put(src .. "/x", "x")
    sh("ln '" .. src .. "/x' '" .. src .. "/y'")
    sh("ln '" .. d .. "/key' '" .. src .. "/sub/key.txt'")
    sh("mkfifo '" .. src .. "/fifo'")
    assert(fs.symlink("/etc/hostname", src .. "/out"))
    assert(fs.symlink("../a.txt", src .. "/sub/in"))
    assert(fs.symlink("../../key", src .. "/sub/up"))
    assert(fs.symlink("missing", src .. "/dangling"))
    local files, refused = fs.snapshot(src, dest, { d .. "/key", d .. "/missing-is-fine" })
    -- Each copy's inode and the digests of the bytes copied come along.
    local function copied(name, data)
      return {
        name = name, size = #data, ino = fs.stat(dest .. "/" .. name).ino,
        sha256 = hash.string(data, "sha256"), sha512 = hash.string(data, "sha512"),
      }
    end
    assert.are.same({ copied("a.txt", "a"), copied("sub/b.bin", "bb"), copied("sub/in", "a") }, files)
    assert.are.same({
      { name = "dangling", why = "link" }, { name = "fifo", why = "special" }, { name = "out", why = "link" },
      { name = "sub/key.txt", why = "protected" }, { name = "sub/up", why = "link" },
      { name = "x", why = "hardlink" }, { name = "y", why = "hardlink" },
    }, refused)
    assert.are.same({ "a.txt", "sub/b.bin", "sub/in" }, fs.walk(dest))
    assert.are.same({ "a", "bb", "a", tonumber("700", 8) },
      { fs.read_file(dest .. "/a.txt"), fs.read_file(dest .. "/sub/b.bin"), fs.read_file(dest .. "/sub/in"),
        fs.stat(dest).mode })
    -- dest must be new
    fails("fs.snapshot: " .. dest .. ": File exists", "EEXIST", fs.snapshot(src, dest))
    fails("fs.snapshot: " .. d .. "/none: No such file or directory", "ENOENT", fs.snapshot(d .. "/none", d .. "/d2"))
  end)

  it("snapshot does not enter a directory link and stops 64 levels down", function()
    local src = d .. "/src"
    local deep = src
    for i = 1, 66 do
      deep = deep .. "/" .. i
    end
    put(deep .. "/f", "f")
    put(src .. "/top", "t")
    assert(fs.symlink(".", src .. "/loop"))
    local files, refused = fs.snapshot(src, d .. "/dest")
    assert.are.same({ "top" }, { files[1].name })
    assert.are.equal(1, #files)
    local whys = {}
    for _, r in ipairs(refused) do
      whys[r.why] = (whys[r.why] or 0) + 1
    end
    assert.are.same({ deep = 1, special = 1 }, whys)
  end)
end)
