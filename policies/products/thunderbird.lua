-- Thunderbird (comm-central and its release branches) on hg.mozilla.org.
-- Values mirror the Python scriptworker's DEFAULT_CONFIG by-cot-product["thunderbird"]
-- (tests/unit/policies/products_spec.lua keeps them equal).
return {
  name = "thunderbird",
  description = "Thunderbird (comm-central and its release branches) on hg.mozilla.org",
  -- How decision tasks are rebuilt: "hg" (hg.mozilla.org) or "github".
  cot_product_type = "hg",
  -- Env prefix of the repository variables (<P>_HEAD_REPOSITORY, <P>_HEAD_REV, ...).
  source_env_prefix = "COMM",
  -- Owner whose GitHub repositories are not pull requests ("" for hg products).
  official_github_repos_owner = "",
  -- Values of extra.tasks_for a decision, cron or action task may carry.
  valid_tasks_for = { "hg-push", "cron", "action" },
  -- provisionerId/workerType of decision and action tasks.
  valid_decision_worker_pools = {
    "comm-1/decision",
    "comm-2/decision",
    "comm-3/decision",
    "comm-1/decision-gcp",
    "comm-2/decision-gcp",
    "comm-3/decision-gcp",
  },
  -- provisionerId/workerType of docker-image tasks.
  valid_docker_image_worker_pools = {
    "comm-1/images",
    "comm-2/images",
    "comm-3/images",
    "comm-1/images-gcp",
    "comm-2/images-gcp",
    "comm-3/images-gcp",
  },
  -- Task types that may run a prebuilt or indexed docker image ("any": all).
  prebuilt_docker_image_task_types = { "decision", "action", "docker-image" },
  -- Trusted repositories: the named group "path" is the repository path.
  trusted_vcs_rules = {
    {
      netlocs = { "hg.mozilla.org" },
      path_regexes = {
        [[^(?P<path>/comm-central)(/|$)]],
        [[^(?P<path>/releases/comm-(beta|release|esr\d+))(/|$)]],
      },
      schemes = { "https", "ssh" },
    },
  },
  -- Restricted scope -> the tree level (cot_restricted_trees) allowed to use it.
  cot_restricted_scopes = {
    ["project:comm:thunderbird:releng:balrog:server:beta"] = "beta",
    ["project:comm:thunderbird:releng:balrog:server:esr"] = "esr",
    ["project:comm:thunderbird:releng:balrog:server:nightly"] = "all-nightly-branches",
    ["project:comm:thunderbird:releng:balrog:server:release"] = "release-or-esr",
    ["project:comm:thunderbird:releng:beetmover:bucket:nightly"] = "all-nightly-branches",
    ["project:comm:thunderbird:releng:beetmover:bucket:release"] = "all-release-branches",
    ["project:comm:thunderbird:releng:bouncer:server:production"] = "all-nightly-branches",
    ["project:comm:thunderbird:releng:flathub:beta"] = "beta",
    ["project:comm:thunderbird:releng:flathub:beta:org.mozilla.Thunderbird"] = "beta",
    ["project:comm:thunderbird:releng:flathub:beta:org.mozilla.thunderbird"] = "beta",
    ["project:comm:thunderbird:releng:flathub:stable"] = "release-or-esr",
    ["project:comm:thunderbird:releng:flathub:stable:org.mozilla.Thunderbird"] = "release-or-esr",
    ["project:comm:thunderbird:releng:flathub:stable:org.mozilla.thunderbird"] = "release",
    ["project:comm:thunderbird:releng:flathub:stable:org.mozilla.thunderbird_esr"] = "esr",
    ["project:comm:thunderbird:releng:microsoftstore:beta"] = "beta",
    ["project:comm:thunderbird:releng:microsoftstore:esr"] = "esr",
    ["project:comm:thunderbird:releng:microsoftstore:release"] = "release",
    ["project:comm:thunderbird:releng:signing:cert:nightly-signing"] = "all-nightly-branches",
    ["project:comm:thunderbird:releng:signing:cert:release-signing"] = "all-release-branches",
  },
  -- Tree level -> repository paths.
  cot_restricted_trees = {
    ["all-nightly-branches"] = {
      "/comm-central",
      "/releases/comm-beta",
      "/releases/comm-release",
      "/releases/comm-esr115",
      "/releases/comm-esr140",
      "/releases/comm-esr153",
    },
    ["all-release-branches"] = {
      "/releases/comm-beta",
      "/releases/comm-release",
      "/releases/comm-esr115",
      "/releases/comm-esr140",
      "/releases/comm-esr153",
    },
    beta = { "/releases/comm-beta" },
    esr = { "/releases/comm-esr115", "/releases/comm-esr140", "/releases/comm-esr153" },
    nightly = { "/comm-central" },
    release = { "/releases/comm-release" },
    ["release-or-esr"] = {
      "/releases/comm-release",
      "/releases/comm-esr115",
      "/releases/comm-esr140",
      "/releases/comm-esr153",
    },
  },
}
