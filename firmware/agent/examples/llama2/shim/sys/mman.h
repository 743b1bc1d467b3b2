/*
 * sys/mman.h - just enough for llama2.c's run.c to compile on targets
 * without mmap (ESP-IDF, newlib). tp_llama2.c maps the weights itself and
 * never calls build_transformer, the only user of these.
 */
#ifndef TP_LLAMA2_SHIM_MMAN_H
#define TP_LLAMA2_SHIM_MMAN_H

#include <stddef.h>
#include <sys/types.h>

#define PROT_READ 1
#define MAP_PRIVATE 2
#define MAP_FAILED ((void *)-1)

static inline void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    (void)addr, (void)len, (void)prot, (void)flags, (void)fd, (void)off;
    return MAP_FAILED;
}

static inline int munmap(void *addr, size_t len)
{
    (void)addr, (void)len;
    return -1;
}

#endif
