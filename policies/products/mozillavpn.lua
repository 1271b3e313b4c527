-- Mozilla VPN client (mozilla-mobile/mozilla-vpn-client on GitHub).
-- Values mirror the Python scriptworker's DEFAULT_CONFIG by-cot-product["mozillavpn"]
-- (tests/unit/policies/products_spec.lua keeps them equal).
return {
  name = "mozillavpn",
  description = "Mozilla VPN client (mozilla-mobile/mozilla-vpn-client on GitHub)",
  -- How decision tasks are rebuilt: "hg" (hg.mozilla.org) or "github".
  cot_product_type = "github",
  -- Env prefix of the repository variables (<P>_HEAD_REPOSITORY, <P>_HEAD_REV, ...).
  source_env_prefix = "MOZILLAVPN",
  -- Owner whose GitHub repositories are not pull requests ("" for hg products).
  official_github_repos_owner = "mozilla-mobile",
  -- Values of extra.tasks_for a decision, cron or action task may carry.
  valid_tasks_for = { "cron", "github-pull-request", "github-push", "github-release", "action" },
  -- provisionerId/workerType of decision and action tasks.
  valid_decision_worker_pools = {
    "mozillavpn-1/decision",
    "mozillavpn-3/decision",
    "mozillavpn-1/decision-gcp",
    "mozillavpn-3/decision-gcp",
  },
  -- provisionerId/workerType of docker-image tasks.
  valid_docker_image_worker_pools = {
    "mozillavpn-1/images",
    "mozillavpn-3/images",
    "mozillavpn-1/images-gcp",
    "mozillavpn-3/images-gcp",
  },
  -- Task types that may run a prebuilt or indexed docker image ("any": all).
  prebuilt_docker_image_task_types = "any",
  -- Trusted repositories: the named group "path" is the repository path.
  trusted_vcs_rules = {
    {
      netlocs = { "github.com" },
      path_regexes = {
        [[^(?P<path>/mozilla-mobile/(?:mozilla-vpn-client))(/|.git|$)]],
      },
      schemes = { "https", "ssh" },
    },
  },
  -- Restricted scope -> the tree level (cot_restricted_trees) allowed to use it.
  cot_restricted_scopes = {
    ["project:mozillavpn:releng:beetmover:bucket:release"] = "mozillavpn-repo",
    ["project:mozillavpn:releng:googleplay:product:mozillavpn"] = "mozillavpn-repo",
    ["project:mozillavpn:releng:signing:cert:nightly-signing"] = "mozillavpn-repo",
    ["project:mozillavpn:releng:signing:cert:release-signing"] = "mozillavpn-repo",
  },
  -- Tree level -> repository paths.
  cot_restricted_trees = {
    ["mozillavpn-repo"] = { "/mozilla-mobile/mozilla-vpn-client" },
  },
}
