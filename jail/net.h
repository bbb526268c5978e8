/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Network set-up inside a fresh network namespace. */
#pragma once

/* Bring the loopback interface up; the namespace has nothing else. */
int jail_net_loopback_up(void);
