/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Host power and vCPU work accounting: the hooks the rest of QEMU calls.
 */

#ifndef SYSTEM_POWER_H
#define SYSTEM_POWER_H

#ifdef CONFIG_LINUX
/* Start counting the calling vCPU thread, which runs @cpu (BQL held). */
void power_vcpu_attach(CPUState *cpu);
/* Read the calling vCPU thread's final count before it exits (BQL held). */
void power_vcpu_detach(CPUState *cpu);
#else
static inline void power_vcpu_attach(CPUState *cpu)
{
}
static inline void power_vcpu_detach(CPUState *cpu)
{
}
#endif

#endif
