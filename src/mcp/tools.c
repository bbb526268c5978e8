/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The tool table. Each tool's argument table generates its inputSchema and
 * validates its calls, so what we advertise and what we accept cannot drift
 * apart. The order of the table is the order of tools/list. Tools for
 * sessions, workspaces and environments join this table as they arrive.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "mcp-internal.h"

static char *
describe_timeout(const struct mcp_limits *l)
{
        char *s;

        if (asprintf(
                    &s,
                    "Wall-clock limit in seconds (default %g, at most %g; larger values are lowered to %g). "
                    "The code is stopped when it runs out.",
                    (double) l->default_timeout_ms / 1000, (double) l->max_timeout_ms / 1000,
                    (double) l->max_timeout_ms / 1000) < 0)
                return NULL;
        return s;
}

static const struct mcp_arg execute_python_args[] = {
        {"code", MCP_ARG_STRING, true, false,
         "Python 3.11 source to run. If the last statement is an expression, its value is returned "
         "(like the interactive interpreter).",
         NULL},
        {"timeout_s", MCP_ARG_NUMBER, false, true, NULL, describe_timeout},
        {"stdin", MCP_ARG_STRING, false, false, "Text given to the code as its standard input.", NULL},
        {},
};

static const struct mcp_reserved_arg execute_python_reserved[] = {
        {"session",
         "session: sessions (state kept between calls) are not available yet in this server; omit the "
         "argument to run the code in a fresh interpreter"},
        {"env", "env: named environments are not available yet in this server; omit the argument to use the "
                "default environment"},
        {},
};

static const struct mcp_arg no_args[] = {{}};

static const struct mcp_tool tools[] = {
        {
                .name = "execute_python",
                .title = "Run Python",
                .description = "Run Python code in a fresh, isolated interpreter (no network; nothing is "
                               "kept between calls) and return its output, the value of its last "
                               "expression or the exception it raised, and any matplotlib figures left "
                               "open as PNG images.",
                .args = execute_python_args,
                .reserved = execute_python_reserved,
                .read_only = false,
                .destructive = false,
                .idempotent = false,
                .open_world = false,
                .output_schema = mcp_execute_python_output_schema,
                .call = mcp_execute_python,
        },
        {
                .name = "health_check",
                .title = "Service health",
                .description = "Report the sandbox service's state: version, isolation in force, idle "
                               "and busy workers, queue depth and requests served.",
                .args = no_args,
                .read_only = true,
                .destructive = false,
                .idempotent = true,
                .open_world = false,
                .output_schema = mcp_health_check_output_schema,
                .call = mcp_health_check,
        },
};

static json_t *
input_schema(const struct mcp_tool *t, const struct mcp_limits *limits)
{
        json_t *props = json_object(), *required = json_array(), *schema;

        for (const struct mcp_arg *a = t->args; a->name; a++) {
                char *text = a->describe ? a->describe(limits) : NULL;
                json_t *p = json_pack("{s:s, s:s}", "type", a->type == MCP_ARG_STRING ? "string" : "number",
                                      "description", text ?: a->description ?: "");
                free(text);
                if (a->positive)
                        json_object_set_new(p, "exclusiveMinimum", json_integer(0));
                json_object_set_new(props, a->name, p);
                if (a->required)
                        json_array_append_new(required, json_string(a->name));
        }
        schema = json_pack("{s:s, s:o}", "type", "object", "properties", props);
        if (json_array_size(required) > 0)
                json_object_set_new(schema, "required", required);
        else
                json_decref(required);
        json_object_set_new(schema, "additionalProperties", json_false());
        return schema;
}

static json_t *
describe_tool(const struct mcp_tool *t, const struct mcp_limits *limits, const struct mcp_version *v)
{
        json_t *tool = json_pack("{s:s}", "name", t->name);

        if (v->features & MCP_F_STRUCTURED)
                json_object_set_new(tool, "title", json_string(t->title));
        json_object_set_new(tool, "description", json_string(t->description));
        json_object_set_new(tool, "inputSchema", input_schema(t, limits));
        if (v->features & MCP_F_STRUCTURED)
                json_object_set_new(tool, "outputSchema", t->output_schema());
        if (v->features & MCP_F_ANNOTATIONS)
                json_object_set_new(tool, "annotations",
                                    json_pack("{s:s, s:b, s:b, s:b, s:b}", "title", t->title, "readOnlyHint",
                                              t->read_only, "destructiveHint", t->destructive,
                                              "idempotentHint", t->idempotent, "openWorldHint",
                                              t->open_world));
        return tool;
}

json_t *
mcp_tools_list(const struct mcp_limits *limits, const struct mcp_version *v)
{
        json_t *list = json_array();

        for (size_t i = 0; list && i < ELEMENTSOF(tools); i++)
                json_array_append_new(list, describe_tool(&tools[i], limits, v));
        return list ? json_pack("{s:o}", "tools", list) : NULL;
}

_printf_(2, 3) static int arg_error(char **ret_error, const char *fmt, ...)
{
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = vasprintf(ret_error, fmt, ap);
        va_end(ap);
        if (r < 0)
                *ret_error = NULL;
        return -EINVAL;
}

int
mcp_tool_check_args(const struct mcp_tool *t, json_t *args, char **ret_error)
{
        const char *key;
        json_t *value;

        json_object_foreach(args, key, value)
        {
                const struct mcp_arg *a;

                for (a = t->args; a->name && strcmp(a->name, key) != 0; a++)
                        ;
                if (!a->name) {
                        for (const struct mcp_reserved_arg *r = t->reserved; r && r->name; r++)
                                if (strcmp(r->name, key) == 0)
                                        return arg_error(ret_error, "%s", r->why);
                        return arg_error(ret_error, "unknown argument \"%s\"", key);
                }
                if (a->type == MCP_ARG_STRING && !json_is_string(value))
                        return arg_error(ret_error, "\"%s\" must be a string", key);
                if (a->type == MCP_ARG_NUMBER &&
                    (!json_is_number(value) || !isfinite(json_number_value(value))))
                        return arg_error(ret_error, "\"%s\" must be a number", key);
                if (a->positive && json_number_value(value) <= 0)
                        return arg_error(ret_error, "\"%s\" must be greater than 0", key);
        }
        for (const struct mcp_arg *a = t->args; a->name; a++)
                if (a->required && !json_object_get(args, a->name))
                        return arg_error(ret_error, "missing required argument \"%s\"", a->name);
        return 0;
}

void
mcp_tools_call(struct mcp_request *req, json_t *params)
{
        const char *name = json_string_value(json_object_get(params, "name"));
        json_t *args = json_object_get(params, "arguments");
        _cleanup_free_ char *error = NULL;
        const struct mcp_tool *t = NULL;

        if (!name)
                return mcp_request_fail(req, JSONRPC_INVALID_PARAMS,
                                        "Invalid params: tools/call needs \"name\" (a string)", NULL);
        for (size_t i = 0; i < ELEMENTSOF(tools); i++)
                if (strcmp(tools[i].name, name) == 0)
                        t = &tools[i];
        if (!t)
                return mcp_request_failf(req, JSONRPC_INVALID_PARAMS, "Unknown tool: %s", name);
        if (args && !json_is_object(args))
                return mcp_request_fail(req, JSONRPC_INVALID_PARAMS,
                                        "Invalid params: \"arguments\" must be an object", NULL);
        if (!args)
                args = json_object();
        else
                json_incref(args);
        if (mcp_tool_check_args(t, args, &error) < 0) {
                mcp_request_failf(req, JSONRPC_INVALID_PARAMS, "Invalid arguments for %s: %s", t->name,
                                  error ?: "invalid");
                json_decref(args);
                return;
        }
        t->call(req, args);
        json_decref(args);
}

json_t *
mcp_tool_error_result(const char *text)
{
        return json_pack("{s:[{s:s, s:s}], s:b}", "content", "type", "text", "text", text, "isError", true);
}
