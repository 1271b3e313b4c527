-- policies/worker_impls/*.lua, called through the loader with fake links
-- and contexts: recognise (VERIFY.md section 2, guess_worker_impl) and
-- verify (section 6; catalogue cases #50-#64, each from both sides).
local policy = require("sw.policy")
local json = require("sw.json")
local support = require("support")

local null = json.null
local set = assert(policy.load(support.root .. "/policies"))

local SHA256 = string.rep("a", 64)
local SHA512 = string.rep("b", 128)

local function recognise(impl, task, config)
  local ctx = { config = config or { scriptworker_provisioners = { "scriptworker-prov-v1", "scriptworker-k8s" } } }
  return policy.call(set, set.worker_impls[impl], "recognise", task, ctx)
end

local function verify(impl, link, ctx)
  return policy.call(set, set.worker_impls[impl], "verify", link, ctx)
end

-- A docker-image link, and a build link running its image, in a chain.
local function chain(opts)
  opts = opts or {}
  local image_link = {
    name = "signing:build:docker-image", task_id = "IMG", task_type = "docker-image",
    worker_impl = "docker-worker", is_root = false,
    task = { payload = { image = "ubuntu:24.04", features = {}, env = {} } },
    cot = { artifacts = { ["public/image.tar.zst"] = { sha256 = SHA256, sha512 = SHA512 } } },
  }
  local build = {
    name = "signing:build", task_id = "BUILD", task_type = opts.task_type or "build",
    worker_impl = "docker-worker", is_root = false,
    task = {
      payload = {
        image = { type = "task-image", taskId = "IMG", path = "public/image.tar.zst" },
        features = {}, env = {},
      },
      extra = { chainOfTrust = { inputs = { ["docker-image"] = "IMG" } } },
      scopes = {},
    },
    cot = { environment = { imageArtifactHash = "sha256:" .. SHA256 } },
  }
  local links = { IMG = image_link, BUILD = build }
  local ctx = {
    config = {
      prebuilt_docker_image_task_types = opts.prebuilt or { "decision", "action", "docker-image" },
      valid_hash_algorithms = { "sha256", "sha512" },
    },
    restricted = opts.restricted or false,
    get_link = function(id)
      return links[id]
    end,
  }
  return build, ctx, image_link
end

describe("policies/worker_impls", function()
  it("are exactly docker-worker, generic-worker and scriptworker (#64)", function()
    local names = {}
    for name in pairs(set.worker_impls) do
      names[#names + 1] = name
    end
    table.sort(names)
    assert.same({ "docker-worker", "generic-worker", "scriptworker" }, names)
    assert.is_nil(set.worker_impls["taskcluster-worker"])
  end)

  it("carry the default ed25519 keys", function()
    assert.same({ "kni6ts7z/MRkvs7i6+SF/T6UWj0hAJoHEcrgHB8BBR0=", "Kz/aZIVeR6NP8gQU1U+2CCIZqvbd+4QCP6J63lflwik=" },
      set.worker_impls["docker-worker"].keys)
    assert.same({ "Kz/aZIVeR6NP8gQU1U+2CCIZqvbd+4QCP6J63lflwik=" }, set.worker_impls["generic-worker"].keys)
    assert.same({ "KO3FX9JnNga/XViTRBiUMHYnji9Fu3s332sU2lXjSwE=", "jFmyvf3lQiiX0qIFxal5KgIIq6VpUBTQfAtD6hEi8Ms=" },
      set.worker_impls.scriptworker.keys)
    local defaults = require("sw.config").defaults().DEFAULT_CONFIG.ed25519_public_keys
    for name, impl in pairs(set.worker_impls) do
      assert.same(defaults[name], impl.keys)
    end
  end)

  describe("recognise", function()
    it("docker-worker: a truthy payload.image or a docker-worker: scope", function()
      assert.is_true(recognise("docker-worker", { payload = { image = "x" }, scopes = {} }))
      assert.is_true(recognise("docker-worker", { payload = { image = { type = "task-image" } }, scopes = {} }))
      assert.is_true(recognise("docker-worker", { payload = {}, scopes = { "queue:x", "docker-worker:cache:y" } }))
      assert.is_false(recognise("docker-worker", { payload = { image = "" }, scopes = {} }))
      assert.is_false(recognise("docker-worker", { payload = { image = null }, scopes = { "docker-worker" } }))
      assert.is_false(recognise("docker-worker", { payload = { mounts = {} }, scopes = { "generic-worker:x" } }))
    end)

    it("generic-worker: payload.mounts or osGroups present and not null", function()
      assert.is_true(recognise("generic-worker", { payload = { mounts = json.array() }, scopes = {} }))
      assert.is_true(recognise("generic-worker", { payload = { osGroups = { "admin" } }, scopes = {} }))
      assert.is_false(recognise("generic-worker", { payload = { mounts = null, osGroups = null }, scopes = {} }))
      assert.is_false(recognise("generic-worker", { payload = { image = "x" }, scopes = {} }))
    end)

    it("scriptworker: a provisioner of the config, or scriptworker-prov-v1", function()
      assert.is_true(recognise("scriptworker", { provisionerId = "scriptworker-k8s", payload = {} }))
      assert.is_true(recognise("scriptworker", { provisionerId = "scriptworker-prov-v1", payload = {} },
        { scriptworker_provisioners = { "other" } }))
      assert.is_true(recognise("scriptworker", { provisionerId = "other", payload = {} },
        { scriptworker_provisioners = { "other" } }))
      assert.is_false(recognise("scriptworker", { provisionerId = "gecko-3", payload = {} }))
      assert.is_false(recognise("scriptworker", { provisionerId = "scriptworker-k8s", payload = {} },
        { scriptworker_provisioners = {} }))
    end)

    it("one impl claims each typical task", function()
      local tasks = {
        ["docker-worker"] = { provisionerId = "gecko-3", payload = { image = "x" }, scopes = {} },
        ["generic-worker"] = { provisionerId = "gecko-3", payload = { mounts = {}, osGroups = {} }, scopes = {} },
        scriptworker = { provisionerId = "scriptworker-k8s", payload = { upstreamArtifacts = {} }, scopes = {} },
      }
      for want, task in pairs(tasks) do
        for impl in pairs(set.worker_impls) do
          assert.equal(impl == want, recognise(impl, task), impl .. " on a " .. want .. " task")
        end
      end
    end)
  end)

  describe("docker-worker verify", function()
    it("accepts a task-image built by a docker-image link of the chain", function()
      local build, ctx = chain()
      assert.is_true(verify("docker-worker", build, ctx))
      build.cot.environment.imageArtifactHash = "sha512:" .. SHA512
      assert.is_true(verify("docker-worker", build, ctx))
    end)

    it("refuses an interactive task (#50)", function()
      local build, ctx = chain()
      build.task.payload.features.interactive = false
      assert.is_true(verify("docker-worker", build, ctx))
      build.task.payload.features.interactive = true
      local ok, err = verify("docker-worker", build, ctx)
      assert.is_nil(ok)
      assert.equal("signing:build BUILD: payload.features.interactive: interactive tasks are not allowed, got true",
        err)
    end)

    it("refuses TASKCLUSTER_INTERACTIVE (#51)", function()
      local build, ctx = chain()
      build.task.payload.env.TASKCLUSTER_INTERACTIVE = ""
      assert.is_true(verify("docker-worker", build, ctx))
      build.task.payload.env.TASKCLUSTER_INTERACTIVE = "true"
      local ok, err = verify("docker-worker", build, ctx)
      assert.is_nil(ok)
      assert.equal('signing:build BUILD: payload.env.TASKCLUSTER_INTERACTIVE: interactive tasks are not allowed, '
        .. 'got "true"', err)
    end)

    it("refuses a task without payload.features or payload.env (#52)", function()
      local build, ctx = chain()
      build.task.payload.features = nil
      local ok, err = verify("docker-worker", build, ctx)
      assert.is_nil(ok)
      assert.equal("signing:build BUILD: payload.features: the task definition is malformed (a docker-worker task "
        .. "must carry payload.features and payload.env objects), got nil", err)
      build.task.payload.features = {}
      build.task.payload.env = null
      ok, err = verify("docker-worker", build, ctx)
      assert.is_nil(ok)
      assert.matches("^signing:build BUILD: payload.env: the task definition is malformed .*, got null$", err)
    end)

    it("checks the root's interactivity but not its image", function()
      local build, ctx = chain()
      build.is_root = true
      build.cot = nil
      build.task.payload.image = "prebuilt:latest"
      assert.is_true(verify("docker-worker", build, ctx))
      build.task.payload.features.interactive = true
      assert.is_nil((verify("docker-worker", build, ctx)))
    end)

    it("refuses a task-image whose docker-image input differs or is missing (#53)", function()
      local build, ctx = chain()
      build.task.extra.chainOfTrust.inputs["docker-image"] = "OTHER"
      local ok, err = verify("docker-worker", build, ctx)
      assert.is_nil(ok)
      assert.equal('signing:build BUILD: extra.chainOfTrust.inputs["docker-image"]: must equal payload.image.taskId '
        .. '"IMG" (docker-image taskId isn\'t consistent), got "OTHER"', err)
      build.task.extra = nil
      ok, err = verify("docker-worker", build, ctx)
      assert.is_nil(ok)
      assert.matches("isn't consistent%), got nil$", err)
    end)

    it("refuses a missing or malformed imageArtifactHash (#54)", function()
      local build, ctx = chain()
      local cases = {
        { nil, "nil" },
        { SHA256, '"' .. SHA256 .. '"' },
        { "sha256:a:b", '"sha256:a:b"' },
        { "md5:" .. SHA256, '"md5:' .. SHA256 .. '"' },
        { "sha256:", '"sha256:"' },
      }
      for _, c in ipairs(cases) do
        build.cot.environment.imageArtifactHash = c[1]
        local ok, err = verify("docker-worker", build, ctx)
        assert.is_nil(ok)
        assert.equal('signing:build BUILD: cot.environment.imageArtifactHash: expected "ALG:HEX" with ALG one of '
          .. "sha256, sha512, got " .. c[2], err)
      end
      build.cot = nil
      assert.is_nil((verify("docker-worker", build, ctx)))
    end)

    it("refuses an image the docker-image link's CoT does not list (#55)", function()
      local build, ctx, image_link = chain()
      build.task.payload.image.path = "public/other.tar.zst"
      local ok, err = verify("docker-worker", build, ctx)
      assert.is_nil(ok)
      assert.equal('signing:build BUILD: payload.image.path: docker sha sha256 of "public/other.tar.zst" is missing '
        .. "from the chain-of-trust artifacts of signing:build:docker-image IMG, got nil", err)
      build.task.payload.image.path = "public/image.tar.zst"
      image_link.cot.artifacts["public/image.tar.zst"] = { sha512 = SHA512 }
      ok, err = verify("docker-worker", build, ctx)
      assert.is_nil(ok)
      assert.matches("docker sha sha256 of \"public/image.tar.zst\" is missing", err)
      -- and the docker-image task must be a link of the chain
      ctx.get_link = function()
        return nil
      end
      ok, err = verify("docker-worker", build, ctx)
      assert.is_nil(ok)
      assert.equal('signing:build BUILD: payload.image.taskId: the docker-image task is not a link of the chain, '
        .. 'got "IMG"', err)
    end)

    it("refuses an image whose digest differs (#56)", function()
      local build, ctx = chain()
      local other = string.rep("c", 64)
      build.cot.environment.imageArtifactHash = "sha256:" .. other
      local ok, err = verify("docker-worker", build, ctx)
      assert.is_nil(ok)
      assert.equal("signing:build BUILD: cot.environment.imageArtifactHash: docker sha doesn't match the sha256 "
        .. 'of "public/image.tar.zst" in the chain-of-trust artifacts of signing:build:docker-image IMG ('
        .. SHA256 .. '), got "sha256:' .. other .. '"', err)
    end)

    it("refuses an indexed image under restricted scopes (#57)", function()
      local build, ctx = chain({ task_type = "decision" })
      build.task.payload.image = { type = "indexed-image", namespace = "x", path = "public/image.tar" }
      assert.is_true(verify("docker-worker", build, ctx))
      ctx.restricted = true
      local ok, err = verify("docker-worker", build, ctx)
      assert.is_nil(ok)
      assert.equal("signing:build BUILD: payload.image.type: indexed images are not usable for tasks with "
        .. 'restricted scopes, got "indexed-image"', err)
    end)

    it("refuses an indexed image for a task type not allowed prebuilt images (#58)", function()
      local build, ctx = chain()
      build.task.payload.image = { type = "indexed-image", namespace = "x", path = "public/image.tar" }
      local ok, err = verify("docker-worker", build, ctx)
      assert.is_nil(ok)
      assert.equal("signing:build BUILD: payload.image.type: a build task is not allowed to use an indexed docker "
        .. 'image (prebuilt_docker_image_task_types), got "indexed-image"', err)
      ctx.config.prebuilt_docker_image_task_types = "any"
      assert.is_true(verify("docker-worker", build, ctx))
    end)

    it("refuses a prebuilt image for a task type not allowed one (#59)", function()
      local build, ctx = chain()
      build.task.payload.image = "mozilla/builder:1"
      local ok, err = verify("docker-worker", build, ctx)
      assert.is_nil(ok)
      assert.equal("signing:build BUILD: payload.image: a build task is not allowed to use a prebuilt docker image "
        .. '(prebuilt_docker_image_task_types), got "mozilla/builder:1"', err)
      build.task.payload.image = nil
      ok, err = verify("docker-worker", build, ctx)
      assert.is_nil(ok)
      assert.matches("prebuilt docker image %(prebuilt_docker_image_task_types%), got nil$", err)
      build.task_type = "docker-image"
      assert.is_true(verify("docker-worker", build, ctx))
      build.task_type = "build"
      ctx.config.prebuilt_docker_image_task_types = "any"
      assert.is_true(verify("docker-worker", build, ctx))
    end)

    it("refuses an image of unknown or missing type (#60)", function()
      local build, ctx = chain({ prebuilt = "any" })
      build.task.payload.image = { type = "docker-hub", name = "x" }
      local ok, err = verify("docker-worker", build, ctx)
      assert.is_nil(ok)
      assert.equal('signing:build BUILD: payload.image.type: unknown type of docker image, got "docker-hub"', err)
      build.task.payload.image = { name = "x" }
      ok, err = verify("docker-worker", build, ctx)
      assert.is_nil(ok)
      assert.equal("signing:build BUILD: payload.image.type: unknown type of docker image, got nil", err)
    end)
  end)

  describe("generic-worker verify", function()
    local function gw_link()
      return {
        name = "signing:build", task_id = "BUILD", task_type = "build", worker_impl = "generic-worker",
        is_root = false, task = { payload = { mounts = {} }, scopes = { "queue:route:x" } }, cot = {},
      }
    end

    it("accepts a task without RDP", function()
      local link = gw_link()
      assert.is_true(verify("generic-worker", link, {}))
      link.task.payload.rdpInfo = ""
      assert.is_true(verify("generic-worker", link, {}))
    end)

    it("refuses payload.rdpInfo (#61)", function()
      local link = gw_link()
      link.task.payload.rdpInfo = "public/rdp.json"
      local ok, err = verify("generic-worker", link, {})
      assert.is_nil(ok)
      assert.equal('signing:build BUILD: payload.rdpInfo: RDP sessions are not allowed, got "public/rdp.json"', err)
    end)

    it("refuses allow-rdp scopes, naming each (#62)", function()
      local link = gw_link()
      link.task.scopes = { "generic-worker:allow-rdp:gecko-t/win", "queue:x", "generic-worker:allow-rdp:b" }
      local ok, err = verify("generic-worker", link, {})
      assert.is_nil(ok)
      assert.equal("signing:build BUILD: scopes[1]: RDP access is not allowed, "
        .. 'got "generic-worker:allow-rdp:gecko-t/win"; '
        .. 'scopes[3]: RDP access is not allowed, got "generic-worker:allow-rdp:b"', err)
      link.task.scopes = { "generic-worker:allow-rdp" }
      assert.is_true(verify("generic-worker", link, {}))
    end)

    it("refuses a task without payload or scopes (#63)", function()
      local link = gw_link()
      link.task.scopes = nil
      local ok, err = verify("generic-worker", link, {})
      assert.is_nil(ok)
      assert.equal("signing:build BUILD: scopes: the task definition is malformed, got nil", err)
      link = gw_link()
      link.task.payload = nil
      ok, err = verify("generic-worker", link, {})
      assert.is_nil(ok)
      assert.equal("signing:build BUILD: payload: the task definition is malformed, got nil", err)
    end)
  end)

  describe("scriptworker verify", function()
    it("adds no check of its own", function()
      assert.is_true(verify("scriptworker", { name = "signing", task_id = "X", task = {} }, {}))
    end)
  end)
end)
