/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Capability handling with libcap. Runs in the jail's child before exec and
 * in a worker during its lockdown. The bounding set is cleared before the
 * other sets because dropping a bounding cap needs CAP_SETPCAP.
 */
#include <errno.h>
#include <stdbool.h>
#include <sys/capability.h>
#include <sys/prctl.h>

#include "caps.h"
#include "macro.h"

static int
bound_and_ambient(uint64_t keep)
{
        for (cap_value_t c = 0; c <= CAP_LAST_CAP; c++) {
                if (keep & (UINT64_C(1) << c))
                        continue;
                if (prctl(PR_CAPBSET_READ, c, 0, 0, 0) == 0)
                        continue; /* already gone: dropping again would need CAP_SETPCAP */
                if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0 && errno != EINVAL)
                        return -errno;
        }
        return prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 ? -errno : 0;
}

static int
set_flags(uint64_t keep, bool effective, bool inheritable)
{
        cap_t caps = cap_init();
        cap_value_t list[CAP_LAST_CAP + 1];
        int n = 0, r = 0;

        if (!caps)
                return -ENOMEM;
        for (cap_value_t c = 0; c <= CAP_LAST_CAP; c++)
                if (keep & (UINT64_C(1) << c))
                        list[n++] = c;
        if (n > 0 && (cap_set_flag(caps, CAP_PERMITTED, n, list, CAP_SET) < 0 ||
                      (inheritable && cap_set_flag(caps, CAP_INHERITABLE, n, list, CAP_SET) < 0) ||
                      (effective && cap_set_flag(caps, CAP_EFFECTIVE, n, list, CAP_SET) < 0)))
                r = -errno;
        if (r == 0 && cap_set_proc(caps) < 0)
                r = -errno;
        cap_free(caps);
        return r;
}

int
jail_caps_keep_across_exec(uint64_t keep)
{
        int r = bound_and_ambient(keep);

        if (r < 0)
                return r;
        r = set_flags(keep, true, true);
        if (r < 0)
                return r;
        for (cap_value_t c = 0; c <= CAP_LAST_CAP; c++)
                if ((keep & (UINT64_C(1) << c)) && prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, c, 0, 0) < 0)
                        return -errno;
        return 0;
}

int
jail_caps_drop_bounding(void)
{
        return bound_and_ambient(0);
}

int
jail_caps_drop_all(void)
{
        int r = bound_and_ambient(0);

        return r < 0 ? r : set_flags(0, false, false);
}

int
jail_caps_limit(uint64_t keep)
{
        return set_flags(keep, true, false);
}

bool
jail_caps_are_exactly(uint64_t keep)
{
        cap_t caps = cap_get_proc();
        bool ok = caps != NULL;

        for (cap_value_t c = 0; ok && c <= CAP_LAST_CAP; c++) {
                cap_flag_value_t eff, prm, inh;
                cap_flag_value_t want = (keep & (UINT64_C(1) << c)) ? CAP_SET : CAP_CLEAR;
                ok = cap_get_flag(caps, c, CAP_EFFECTIVE, &eff) == 0 &&
                     cap_get_flag(caps, c, CAP_PERMITTED, &prm) == 0 &&
                     cap_get_flag(caps, c, CAP_INHERITABLE, &inh) == 0 && eff == want && prm == want &&
                     inh == CAP_CLEAR &&
                     /* -1 (EINVAL): a capability this kernel does not have */
                     prctl(PR_CAPBSET_READ, c, 0, 0, 0) <= 0 &&
                     prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, c, 0, 0) <= 0;
        }
        if (caps)
                cap_free(caps);
        return ok;
}
