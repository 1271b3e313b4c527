-- sw.hash: SHA-256 and SHA-512 of strings, files and streams (core/hash.c).
local hash = require("sw.hash")
local sched = require("sw.sched")
local support = require("support")
local async = support.async

local EMPTY256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
local ABC256 = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
local EMPTY512 = "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce"
  .. "47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e"
local ABC512 = "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
  .. "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"
-- FIPS 180-2 appendix B.2, the two-block message.
local LONG = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"
local LONG256 = "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"

local function tohex(s)
  return (s:gsub(".", function(c)
    return string.format("%02x", c:byte())
  end))
end

-- Deterministic bytes (a 32-bit LCG), not a multiple of the read block.
local function pseudo_random(n)
  local parts, x = {}, 12345
  for i = 1, n // 4 do
    x = (x * 1103515245 + 12345) % 4294967296
    parts[i] = string.pack("<I4", x)
  end
  return table.concat(parts) .. string.rep("z", n % 4)
end

local write = support.write

describe("sw.hash", function()
  local dir
  setup(function()
    dir = support.tmpdir()
  end)
  teardown(function()
    os.execute("rm -rf '" .. dir .. "'")
  end)

  describe("string", function()
    it("gives the known sha256 digests in lowercase hex", function()
      assert.are.equal(EMPTY256, hash.string("", "sha256"))
      assert.are.equal(ABC256, hash.string("abc", "sha256"))
      assert.are.equal(LONG256, hash.string(LONG, "sha256"))
    end)

    it("gives the known sha512 digests", function()
      assert.are.equal(EMPTY512, hash.string("", "sha512"))
      assert.are.equal(ABC512, hash.string("abc", "sha512"))
      assert.are.equal(ABC512, hash.string("abc", "sha512", "hex"))
    end)

    it("gives the raw bytes with format 'raw'", function()
      local raw = hash.string("abc", "sha256", "raw")
      assert.are.equal(32, #raw)
      assert.are.equal(ABC256, tohex(raw))
      assert.are.equal(ABC512, tohex(hash.string("abc", "sha512", "raw")))
    end)

    it("hashes embedded zero bytes", function()
      assert.are_not.equal(hash.string("a\0b", "sha256"), hash.string("a", "sha256"))
      assert.are.equal(64, #hash.string("a\0b", "sha256"))
    end)

    it("raises for an unsupported algorithm", function()
      assert.has_error(function()
        hash.string("abc", "md5")
      end, "bad argument #2 to 'string' "
        .. "(unsupported algorithm \"md5\", expected sha256 or sha512)")
      assert.has_error(function()
        hash.string("abc", "SHA256")
      end, "bad argument #2 to 'string' "
        .. "(unsupported algorithm \"SHA256\", expected sha256 or sha512)")
    end)

    it("raises for a bad format or a non-string", function()
      assert.has_error(function()
        hash.string("abc", "sha256", "base64")
      end, "bad argument #3 to 'string' (invalid option 'base64')")
      assert.has_error(function()
        hash.string({}, "sha256")
      end, "bad argument #1 to 'string' (string expected, got table)")
    end)
  end)

  describe("file", function()
    it("equals string hashing for a 3 MiB file", function()
      -- a 4099-byte pattern: no period lines up with the read blocks
      local chunk = pseudo_random(4099)
      local data = chunk:rep((3 * 1024 * 1024) // 4099 + 1):sub(1, 3 * 1024 * 1024 + 7)
      assert.are.equal(3 * 1024 * 1024 + 7, #data)
      local path = dir .. "/big.bin"
      write(path, data)
      assert.are.equal(hash.string(data, "sha256"), hash.file(path, "sha256"))
      assert.are.equal(hash.string(data, "sha512"), hash.file(path, "sha512"))
      assert.are.equal(hash.string(data, "sha512", "raw"), hash.file(path, "sha512", "raw"))
    end)

    it("hashes an empty file", function()
      local path = dir .. "/empty"
      write(path, "")
      assert.are.equal(EMPTY256, hash.file(path, "sha256"))
      assert.are.equal(EMPTY512, hash.file(path, "sha512"))
    end)

    it("matches the shared conformance file", function()
      local path = support.shared .. "/conformance/scriptworker/ed25519/foo.json"
      assert.are.equal(hash.string(support.read(path), "sha256"), hash.file(path, "sha256"))
    end)

    it("returns nil, message, ENOENT for a missing file", function()
      local path = dir .. "/missing"
      local digest, err, code = hash.file(path, "sha256")
      assert.is_nil(digest)
      assert.are.equal("hash: " .. path .. ": No such file or directory", err)
      assert.are.equal("ENOENT", code)
    end)

    it("returns nil, message, EISDIR for a directory", function()
      local digest, err, code = hash.file(dir, "sha512")
      assert.is_nil(digest)
      assert.are.equal("hash: " .. dir .. ": Is a directory", err)
      assert.are.equal("EISDIR", code)
    end)

    it("raises for an unsupported algorithm before touching the file", function()
      assert.has_error(function()
        hash.file(dir .. "/missing", "sha1")
      end, "bad argument #2 to 'file' "
        .. "(unsupported algorithm \"sha1\", expected sha256 or sha512)")
    end)
  end)

  describe("file inside a task (thread pool)", function()
    local data, path
    setup(function()
      data = pseudo_random(4099):rep(800)
      path = dir .. "/task.bin"
      write(path, data)
    end)

    it("gives the same digests and errors", async(function()
      assert.are.equal(hash.string(data, "sha256"), hash.file(path, "sha256"))
      assert.are.equal(hash.string(data, "sha512", "raw"), hash.file(path, "sha512", "raw"))
      assert.are.same({ nil, "hash: " .. dir .. "/missing: No such file or directory", "ENOENT" },
        { hash.file(dir .. "/missing", "sha256") })
      assert.are.same({ nil, "hash: " .. dir .. ": Is a directory", "EISDIR" },
        { hash.file(dir, "sha256") })
    end))

    it("lets other tasks run while hashing, several at once", async(function()
      local hashing, seen = 0, 0
      local tasks = {}
      for i = 1, 6 do
        tasks[i] = sched.spawn(function()
          hashing = hashing + 1
          local digest = hash.file(path, i % 2 == 0 and "sha256" or "sha512")
          hashing = hashing - 1
          return digest
        end)
      end
      -- Synchronous hashing would finish inside one resume: no other task
      -- could ever see a hash in flight.
      local ticker = sched.spawn(function()
        while true do
          if hashing > 0 then
            seen = seen + 1
          end
          sched.yield()
        end
      end)
      for i = 1, 6 do
        assert.are.same({ true, hash.string(data, i % 2 == 0 and "sha256" or "sha512") },
          { tasks[i]:wait() })
      end
      ticker:cancel()
      assert.are.equal(0, hashing)
      assert.is_true(seen > 0)
    end))

    it("can be cancelled while hashing", async(function()
      local t = sched.spawn(function()
        return hash.file(path, "sha512")
      end)
      sched.yield()
      assert.is_true(t:cancel())
      assert.are.same({ false, "cancelled", "cancelled" }, { t:wait() })
      -- the pool finishes the orphaned work; a new one still works
      assert.are.equal(hash.string(data, "sha256"), hash.file(path, "sha256"))
    end))

    it("hashes without yielding where it cannot yield", async(function()
      local digest
      local obj = setmetatable({}, {
        __tostring = function()
          digest = hash.file(path, "sha256")
          return "x"
        end,
      })
      assert.are.equal("x", tostring(obj))
      assert.are.equal(hash.string(data, "sha256"), digest)
    end))
  end)

  describe("new", function()
    it("streams to the same digest as string", function()
      local h = hash.new("sha256")
      assert.are.equal(h, h:update("a"))
      h:update("b"):update(""):update("c")
      assert.are.equal(ABC256, h:hex())
      local data = pseudo_random(100000)
      local s = hash.new("sha512")
      for i = 1, #data, 4093 do
        s:update(data:sub(i, i + 4092))
      end
      assert.are.equal(hash.string(data, "sha512"), s:digest())
    end)

    it("returns the same digest on every call, hex or raw", function()
      local h = hash.new("sha512"):update("abc")
      assert.are.equal(ABC512, h:digest())
      assert.are.equal(ABC512, h:hex())
      assert.are.equal(ABC512, tohex(h:digest("raw")))
      assert.are.equal(ABC512, h:digest("hex"))
    end)

    it("gives the empty digest when nothing was added", function()
      assert.are.equal(EMPTY256, hash.new("sha256"):hex())
    end)

    it("raises on update after the digest", function()
      local h = hash.new("sha256")
      h:hex()
      assert.has_error(function()
        h:update("x")
      end, "sw.Hash: update after digest")
    end)

    it("has a readable tostring", function()
      local h = hash.new("sha256")
      assert.are.equal("sw.Hash (sha256)", tostring(h))
      h:digest()
      assert.are.equal("sw.Hash (sha256, digested)", tostring(h))
    end)

    it("closes with <close> and refuses use after that", function()
      local kept
      do
        local h <close> = hash.new("sha512")
        kept = h
      end
      assert.are.equal("sw.Hash (closed)", tostring(kept))
      assert.has_error(function()
        kept:update("x")
      end, "attempt to use a closed sw.Hash")
      -- closing twice (the collector after __close) is harmless
      getmetatable(kept).__gc(kept)
    end)

    it("raises for an unsupported algorithm or a wrong self", function()
      assert.has_error(function()
        hash.new("sha384")
      end, "bad argument #1 to 'new' "
        .. "(unsupported algorithm \"sha384\", expected sha256 or sha512)")
      local h = hash.new("sha256")
      assert.has_error(function()
        h.update({}, "x")
      end, "bad argument #1 to 'update' (sw.Hash expected, got table)")
    end)
  end)
end)
