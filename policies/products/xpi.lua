-- Privileged add-ons shipped from mozilla-extensions/xpi-manifest on GitHub.
-- The only product with a wildcard restricted scope (a key ending in *).
-- Values mirror the Python scriptworker's DEFAULT_CONFIG by-cot-product["xpi"]
-- (tests/unit/policies/products_spec.lua keeps them equal).
return {
  name = "xpi",
  description = "Privileged add-ons shipped from mozilla-extensions/xpi-manifest on GitHub",
  -- How decision tasks are rebuilt: "hg" (hg.mozilla.org) or "github".
  cot_product_type = "github",
  -- Env prefix of the repository variables (<P>_HEAD_REPOSITORY, <P>_HEAD_REV, ...).
  source_env_prefix = "XPI",
  -- Owner whose GitHub repositories are not pull requests ("" for hg products).
  official_github_repos_owner = "mozilla-extensions",
  -- Values of extra.tasks_for a decision, cron or action task may carry.
  valid_tasks_for = { "action", "cron", "github-pull-request", "github-push", "github-release" },
  -- provisionerId/workerType of decision and action tasks.
  valid_decision_worker_pools = {
    "xpi-1/decision",
    "xpi-3/decision",
    "xpi-1/decision-gcp",
    "xpi-3/decision-gcp",
  },
  -- provisionerId/workerType of docker-image tasks.
  valid_docker_image_worker_pools = {
    "xpi-1/images",
    "xpi-3/images",
    "xpi-1/images-gcp",
    "xpi-3/images-gcp",
  },
  -- Task types that may run a prebuilt or indexed docker image ("any": all).
  prebuilt_docker_image_task_types = "any",
  -- Trusted repositories: the named group "path" is the repository path.
  trusted_vcs_rules = {
    {
      netlocs = { "github.com" },
      path_regexes = {
        [[^(?P<path>/mozilla-extensions/xpi-manifest)(/|.git|$)]],
      },
      schemes = { "https", "ssh" },
    },
  },
  -- Restricted scope -> the tree level (cot_restricted_trees) allowed to use it.
  cot_restricted_scopes = {
    ["project:xpi:balrog:server:release"] = "xpi-manifest-repo",
    ["project:xpi:beetmover:bucket:release"] = "xpi-manifest-repo",
    ["project:xpi:releng:github:project:mozilla-extensions/*"] = "xpi-manifest-repo",
    ["project:xpi:ship-it:production"] = "xpi-manifest-repo",
    ["project:xpi:signing:cert:release-signing"] = "xpi-manifest-repo",
  },
  -- Tree level -> repository paths.
  cot_restricted_trees = {
    ["xpi-manifest-repo"] = { "/mozilla-extensions/xpi-manifest" },
  },
}
