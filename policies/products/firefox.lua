-- Firefox and Gecko-based products on hg.mozilla.org.
-- mozilla-central, autoland, the release branches and the project branches.
-- Values mirror the Python scriptworker's DEFAULT_CONFIG by-cot-product["firefox"]
-- (tests/unit/policies/products_spec.lua keeps them equal).
return {
  name = "firefox",
  description = "Firefox and Gecko-based products on hg.mozilla.org",
  -- How decision tasks are rebuilt: "hg" (hg.mozilla.org) or "github".
  cot_product_type = "hg",
  -- Env prefix of the repository variables (<P>_HEAD_REPOSITORY, <P>_HEAD_REV, ...).
  source_env_prefix = "GECKO",
  -- Owner whose GitHub repositories are not pull requests ("" for hg products).
  official_github_repos_owner = "",
  -- Values of extra.tasks_for a decision, cron or action task may carry.
  valid_tasks_for = { "hg-push", "cron", "action" },
  -- provisionerId/workerType of decision and action tasks.
  valid_decision_worker_pools = {
    "gecko-1/decision",
    "gecko-2/decision",
    "gecko-3/decision",
    "gecko-1/decision-gcp",
    "gecko-2/decision-gcp",
    "gecko-3/decision-gcp",
  },
  -- provisionerId/workerType of docker-image tasks.
  valid_docker_image_worker_pools = {
    "gecko-1/images",
    "gecko-2/images",
    "gecko-3/images",
    "gecko-1/images-gcp",
    "gecko-2/images-gcp",
    "gecko-3/images-gcp",
  },
  -- Task types that may run a prebuilt or indexed docker image ("any": all).
  prebuilt_docker_image_task_types = { "decision", "action", "docker-image" },
  -- Trusted repositories: the named group "path" is the repository path.
  trusted_vcs_rules = {
    {
      netlocs = { "hg.mozilla.org" },
      path_regexes = {
        [[^(?P<path>/mozilla-(central|unified))(/|$)]],
        [[^(?P<path>/integration/autoland)(/|$)]],
        [[^(?P<path>/releases/mozilla-(beta|release|esr\d+))(/|$)]],
        [[^(?P<path>/projects/(pine|maple|larch|cypress))(/|$)]],
      },
      schemes = { "https", "ssh" },
    },
  },
  -- Restricted scope -> the tree level (cot_restricted_trees) allowed to use it.
  cot_restricted_scopes = {
    ["project:releng:addons.mozilla.org:server:production"] = "all-release-branches",
    ["project:releng:balrog:server:beta"] = "beta",
    ["project:releng:balrog:server:esr"] = "esr",
    ["project:releng:balrog:server:nightly"] = "all-nightly-branches",
    ["project:releng:balrog:server:release"] = "release",
    ["project:releng:beetmover:bucket:maven-nightly-production"] = "nightly",
    ["project:releng:beetmover:bucket:maven-production"] = "all-production-branches",
    ["project:releng:beetmover:bucket:nightly"] = "all-nightly-branches",
    ["project:releng:beetmover:bucket:release"] = "all-release-branches-and-autoland",
    ["project:releng:bouncer:server:production"] = "all-production-branches",
    ["project:releng:flathub:firefox:beta"] = "beta",
    ["project:releng:flathub:firefox:beta:org.mozilla.firefox"] = "beta",
    ["project:releng:flathub:firefox:stable"] = "release",
    ["project:releng:flathub:firefox:stable:org.mozilla.firefox"] = "release",
    ["project:releng:googleplay:product:fenix"] = "all-production-branches",
    ["project:releng:googleplay:product:focus-android"] = "all-production-branches",
    ["project:releng:lando:repo:autoland"] = "autoland",
    ["project:releng:lando:repo:beta"] = "beta",
    ["project:releng:lando:repo:esr115"] = "esr115",
    ["project:releng:lando:repo:esr140"] = "esr140",
    ["project:releng:lando:repo:esr153"] = "esr153",
    ["project:releng:lando:repo:nightly"] = "nightly",
    ["project:releng:lando:repo:release"] = "release",
    ["project:releng:microsoftstore:beta"] = "beta",
    ["project:releng:microsoftstore:release"] = "release",
    ["project:releng:ship-it:production"] = "all-production-branches",
    ["project:releng:signing:cert:fennec-production-signing"] = "beta-or-release",
    ["project:releng:signing:cert:nightly-signing"] = "all-nightly-branches",
    ["project:releng:signing:cert:production-signing"] = "all-production-branches",
    ["project:releng:signing:cert:release-signing"] = "all-release-branches",
    ["project:releng:treescript:action:push"] = "all-production-branches-and-autoland",
  },
  -- Tree level -> repository paths.
  cot_restricted_trees = {
    ["all-nightly-branches"] = {
      "/mozilla-central",
      "/releases/mozilla-unified",
      "/releases/mozilla-beta",
      "/releases/mozilla-release",
      "/releases/mozilla-esr115",
      "/releases/mozilla-esr140",
      "/releases/mozilla-esr153",
      "/projects/pine",
      "/projects/larch",
      "/projects/maple",
      "/projects/cypress",
    },
    ["all-production-branches"] = {
      "/mozilla-central",
      "/releases/mozilla-beta",
      "/releases/mozilla-release",
      "/releases/mozilla-esr115",
      "/releases/mozilla-esr140",
      "/releases/mozilla-esr153",
    },
    ["all-production-branches-and-autoland"] = {
      "/mozilla-central",
      "/releases/mozilla-beta",
      "/releases/mozilla-release",
      "/releases/mozilla-esr115",
      "/releases/mozilla-esr140",
      "/releases/mozilla-esr153",
      "/integration/autoland",
    },
    ["all-release-branches"] = {
      "/releases/mozilla-beta",
      "/releases/mozilla-release",
      "/releases/mozilla-esr115",
      "/releases/mozilla-esr140",
      "/releases/mozilla-esr153",
      "/projects/birch",
      "/projects/maple",
    },
    ["all-release-branches-and-autoland"] = {
      "/releases/mozilla-beta",
      "/releases/mozilla-release",
      "/releases/mozilla-esr115",
      "/releases/mozilla-esr140",
      "/releases/mozilla-esr153",
      "/projects/birch",
      "/projects/maple",
      "/integration/autoland",
    },
    autoland = { "/integration/autoland" },
    beta = { "/releases/mozilla-beta" },
    ["beta-or-release"] = { "/releases/mozilla-beta", "/releases/mozilla-release" },
    esr = { "/releases/mozilla-esr115", "/releases/mozilla-esr140", "/releases/mozilla-esr153" },
    esr115 = { "/releases/mozilla-esr115" },
    esr140 = { "/releases/mozilla-esr140" },
    esr153 = { "/releases/mozilla-esr153" },
    nightly = { "/mozilla-central" },
    release = { "/releases/mozilla-release" },
  },
}
