/* SPDX-License-Identifier: GPL-2.0 */
/* <linux/module.h> for the userspace build of rmt_kmod_dev.c: see ../fuzz_kernel.h. */
#include "../fuzz_kernel.h"
