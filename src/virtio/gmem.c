// SPDX-License-Identifier: MIT
/* gmem.c - the guest memory table: regions mapped once, overflow-safe translation */
#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pvnet/log.h"
#include "pvnet/virtio.h"
#include "virtio_internal.h"

/*
 * Every guest address the ring code touches comes through this file (style
 * §6.1, the "grant check" of seed 004). Regions are mapped once when the
 * frontend announces them (persistent mapping) and the table is kept sorted
 * by gpa. All range arithmetic subtracts on the trusted side: a region's
 * start and size were validated when it was added, so `off = x - start`
 * followed by `off < size` and `size - off` cannot wrap, whatever x is.
 *
 * A mapped file that shrinks turns our accesses into SIGBUS: memfds are
 * sealed against shrinking where the frontend allows it, and every mapping
 * is registered with the SIGBUS guard (gmem_guard.c) for the rest.
 */

void gmem_init(struct gmem *gm)
{
	memset(gm, 0, sizeof(*gm));
}

void gmem_set_fault_counter(struct gmem *gm, uint32_t *cnt)
{
	gm->fault_cnt = cnt;
}

/*
 * Makes sure the file cannot shrink under our mapping, where the frontend
 * lets us: a memfd without F_SEAL_SHRINK gets it (F_ADD_SEALS fails
 * harmlessly once F_SEAL_SEAL is set, or on a file that is not a memfd).
 * Done before the size check, so the size checked is the size kept. QEMU's
 * memory-backend-memfd comes sealed already. Returns true if sealed.
 */
static bool seal_shrink(int fd)
{
	int seals = fcntl(fd, F_GET_SEALS);

	if (seals < 0)
		return false;
	if (!(seals & F_SEAL_SHRINK) && !(seals & F_SEAL_SEAL) &&
	    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK) == 0)
		seals |= F_SEAL_SHRINK;
	return seals & F_SEAL_SHRINK;
}

/* True if [a, a+alen) and [b, b+blen) intersect; neither end overflows. */
static bool ranges_overlap(uint64_t a, uint64_t alen, uint64_t b,
			   uint64_t blen)
{
	return a < b + blen && b < a + alen;
}

/* Checks a new region against overflow and the regions already present. */
static int check_region(const struct gmem *gm, uint64_t gpa, uint64_t size,
			uint64_t uva)
{
	if (size == 0)
		return -EINVAL;
	/* Ends must be representable: start <= UINT64_MAX - size. */
	if (gpa > UINT64_MAX - size || uva > UINT64_MAX - size)
		return -EINVAL;
	if (size > SIZE_MAX)
		return -EINVAL;
	for (unsigned i = 0; i < gm->n; i++) {
		const struct gmem_region *r = &gm->r[i];

		if (ranges_overlap(gpa, size, r->gpa, r->size) ||
		    ranges_overlap(uva, size, r->uva, r->size))
			return -EINVAL;
	}
	if (gm->n >= GMEM_MAX_REGIONS)
		return -ENOSPC;
	return 0;
}

/* Inserts a checked region keeping the table sorted by gpa. */
static void insert_region(struct gmem *gm, const struct gmem_region *nr)
{
	unsigned i = gm->n;

	while (i > 0 && gm->r[i - 1].gpa > nr->gpa) {
		gm->r[i] = gm->r[i - 1];
		i--;
	}
	gm->r[i] = *nr;
	gm->n++;
}

int gmem_map_file(struct gmem_map *m, int fd, uint64_t size,
		  uint64_t offset, uint32_t *fault_cnt)
{
	uint64_t align, map_off, lead, map_len;
	struct stat st;
	void *base;

	memset(m, 0, sizeof(*m));
	m->guard = -1;
	if (size == 0 || size > SIZE_MAX || offset > UINT64_MAX - size)
		return -EINVAL;
	m->sealed = seal_shrink(fd);
	if (fstat(fd, &st) < 0)
		return -errno;
	if (st.st_size < 0 || offset + size > (uint64_t)st.st_size)
		return -ERANGE;

	/*
	 * Map from the offset rounded down to the file's block size (the huge
	 * page size on hugetlbfs, as DPDK's get_blk_size() does), not from 0:
	 * only what the caller needs is mapped.
	 */
	align = st.st_blksize > 0 ? (uint64_t)st.st_blksize : 4096;
	if (!pv_is_pow2(align))
		align = (uint64_t)sysconf(_SC_PAGESIZE);
	map_off = offset & ~(align - 1);
	lead = offset - map_off;
	map_len = lead + size;
	if (map_len < size || map_len > UINT64_MAX - (align - 1))
		return -EINVAL;
	map_len = (map_len + align - 1) & ~(align - 1);
	if (map_len > SIZE_MAX || map_off > (uint64_t)INT64_MAX)
		return -EINVAL;

	base = mmap(NULL, (size_t)map_len, PROT_READ | PROT_WRITE,
		    MAP_SHARED | MAP_NORESERVE, fd, (off_t)map_off);
	if (base == MAP_FAILED)
		return -errno;
	/* Sealed or not: hugetlbfs can still fail a first touch (empty pool). */
	m->guard = gmem_guard_add(base, (size_t)map_len, fault_cnt);
	if (m->guard < 0) {
		munmap(base, (size_t)map_len);
		m->guard = -1;
		return -ENOSPC;
	}
	m->ptr = (uint8_t *)base + lead;
	m->size = size;
	m->base = base;
	m->len = (size_t)map_len;
	return 0;
}

void gmem_unmap_file(struct gmem_map *m)
{
	/* out of the guard first: the address may be reused after munmap */
	if (m->len) {
		gmem_guard_del(m->guard);
		munmap(m->base, m->len);
	}
	memset(m, 0, sizeof(*m));
	m->guard = -1;
}

int gmem_add_region(struct gmem *gm, uint64_t gpa, uint64_t size,
		    uint64_t uva, uint64_t mmap_offset, int fd)
{
	struct gmem_region nr = { 0 };
	struct gmem_map m;
	int ret;

	ret = check_region(gm, gpa, size, uva);
	if (ret)
		return ret;
	ret = gmem_map_file(&m, fd, size, mmap_offset, gm->fault_cnt);
	if (ret)
		return ret;
	pv_log(PV_LOG_DEBUG, "port %s: guest memory region gpa 0x%llx size %llu %s",
	       gm->name ? gm->name : "?", (unsigned long long)gpa,
	       (unsigned long long)size,
	       m.sealed ? "sealed against shrinking" :
	       "not sealable (SIGBUS guard only)");

	nr.gpa = gpa;
	nr.size = size;
	nr.uva = uva;
	nr.hva = m.ptr;
	nr.mmap_base = m.base;
	nr.mmap_len = m.len;
	nr.guard = m.guard;
	nr.sealed = m.sealed;
	insert_region(gm, &nr);
	return 0;
}

int gmem_add_mapped(struct gmem *gm, uint64_t gpa, uint64_t size,
		    uint64_t uva, void *hva)
{
	struct gmem_region nr = { 0 };
	int ret;

	if (!hva)
		return -EINVAL;
	ret = check_region(gm, gpa, size, uva);
	if (ret)
		return ret;
	if ((uintptr_t)hva > UINTPTR_MAX - size)
		return -EINVAL;
	nr.gpa = gpa;
	nr.size = size;
	nr.uva = uva;
	nr.hva = hva;
	nr.mmap_base = hva;
	nr.mmap_len = 0;	/* the caller's mapping */
	nr.guard = -1;		/* and the caller's faults */
	insert_region(gm, &nr);
	return 0;
}

static void unmap_region(struct gmem_region *r)
{
	/* out of the guard first: the address may be reused after munmap */
	if (r->mmap_len) {
		gmem_guard_del(r->guard);
		munmap(r->mmap_base, r->mmap_len);
	}
	memset(r, 0, sizeof(*r));
}

struct gmem_region *gmem_find_region(struct gmem *gm, uint64_t gpa,
				     uint64_t size, uint64_t uva)
{
	for (unsigned i = 0; i < gm->n; i++)
		if (gm->r[i].gpa == gpa && gm->r[i].size == size &&
		    gm->r[i].uva == uva)
			return &gm->r[i];
	return NULL;
}

int gmem_remove_region(struct gmem *gm, uint64_t gpa, uint64_t size)
{
	for (unsigned i = 0; i < gm->n; i++) {
		if (gm->r[i].gpa != gpa || gm->r[i].size != size)
			continue;
		unmap_region(&gm->r[i]);
		for (unsigned j = i; j + 1 < gm->n; j++)
			gm->r[j] = gm->r[j + 1];
		gm->n--;
		memset(&gm->r[gm->n], 0, sizeof(gm->r[gm->n]));
		return 0;
	}
	return -ENOENT;
}

void gmem_clear(struct gmem *gm)
{
	for (unsigned i = 0; i < gm->n; i++)
		unmap_region(&gm->r[i]);
	gm->n = 0;
}

void *gmem_translate(const struct gmem *gm, uint64_t gpa, uint64_t len,
		     uint64_t *out_len)
{
	return gmem_lookup(gm, gpa, len, out_len);
}

void *gmem_uva_translate(const struct gmem *gm, uint64_t uva, uint64_t len,
			 uint64_t *out_len)
{
	if (len == 0)
		return NULL;
	for (unsigned i = 0; i < gm->n; i++) {
		const struct gmem_region *r = &gm->r[i];
		uint64_t off = uva - r->uva;

		if (off < r->size) {
			uint64_t avail = r->size - off;

			*out_len = len < avail ? len : avail;
			return r->hva + off;
		}
	}
	return NULL;
}

void *gmem_translate_contig(const struct gmem *gm, uint64_t gpa, uint64_t len)
{
	uint64_t got = 0;
	void *hva = gmem_translate(gm, gpa, len, &got);

	return hva && got == len ? hva : NULL;
}

int gmem_to_iov(const struct gmem *gm, uint64_t gpa, uint64_t len,
		struct iovec *iov, unsigned *n, unsigned max)
{
	while (len) {
		uint64_t got;
		void *hva = gmem_translate(gm, gpa, len, &got);

		if (!hva)
			return -EFAULT;
		/* Bound checked on every split, not once on entry (§6.6). */
		if (*n >= max)
			return -ENOBUFS;
		iov[*n].iov_base = hva;
		iov[*n].iov_len = (size_t)got;
		(*n)++;
		/* got <= region end - gpa, so gpa + got cannot wrap. */
		gpa += got;
		len -= got;
	}
	return 0;
}

