/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The protocol revisions we speak and what each adds, so the rest of the face
 * asks "does this request's version have structured output?" instead of
 * comparing dates.
 */
#include <string.h>

#include "macro.h"
#include "mcp-internal.h"

const struct mcp_version mcp_versions[] = {
        {"2026-07-28", MCP_F_ANNOTATIONS | MCP_F_STRUCTURED | MCP_F_STATELESS},
        {"2025-11-25", MCP_F_ANNOTATIONS | MCP_F_STRUCTURED},
        {"2025-06-18", MCP_F_ANNOTATIONS | MCP_F_STRUCTURED},
        {"2025-03-26", MCP_F_ANNOTATIONS | MCP_F_BATCH},
        {"2024-11-05", 0},
};
const size_t mcp_n_versions = ELEMENTSOF(mcp_versions);

const struct mcp_version *
mcp_version_find(const char *name)
{
        for (size_t i = 0; i < mcp_n_versions; i++)
                if (strcmp(mcp_versions[i].name, name) == 0)
                        return &mcp_versions[i];
        return NULL;
}

const struct mcp_version *
mcp_version_latest_handshake(void)
{
        for (size_t i = 0; i < mcp_n_versions; i++)
                if (!(mcp_versions[i].features & MCP_F_STATELESS))
                        return &mcp_versions[i];
        return NULL;
}

json_t *
mcp_version_list(bool stateless, bool handshake)
{
        json_t *a = json_array();

        for (size_t i = 0; a && i < mcp_n_versions; i++) {
                bool s = mcp_versions[i].features & MCP_F_STATELESS;
                if (s ? stateless : handshake)
                        json_array_append_new(a, json_string(mcp_versions[i].name));
        }
        return a;
}

static const char *const log_levels[] = {
        "emergency", "alert", "critical", "error", "warning", "notice", "info", "debug",
};

/* Levels are compared as syslog priorities: a smaller number is more severe. */
int
mcp_log_level_from_string(const char *s)
{
        for (size_t i = 0; i < ELEMENTSOF(log_levels); i++)
                if (strcmp(log_levels[i], s) == 0)
                        return (int) i;
        return -1;
}

const char *
mcp_log_level_to_string(int level)
{
        return level >= 0 && (size_t) level < ELEMENTSOF(log_levels) ? log_levels[level] : "debug";
}
