
/*
 * The spool: append-only files that hold audit events while Redis cannot
 * take them, until they are replayed.
 *
 * Each worker writes its own files, "<start>-<pid>-<seq>.spool" (worker
 * start time in ms and the first event's sequence number, both hex, so the
 * names sort in event order), and holds an fcntl() lock on each while it
 * lives.  A file nobody holds a lock on was left by a worker that is gone
 * (a crash, a reload while Redis was away, a previous nginx): an "orphan",
 * replayed by whichever worker holds the replayer role in shared memory.
 * Files are created under a dot-name, locked, then renamed into place, so
 * no one can take a file being born for an orphan.
 *
 * Writes are plain write(2)s to local disk (like access_log); fsync is per
 * "hoop_audit_spool ... fsync=": always (each record), batch (once a
 * second, the default), off (the kernel decides).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <dirent.h>
#include "ngx_hoop_audit_int.h"


#define NGX_HOOP_AUDIT_SUFFIX     ".spool"
#define NGX_HOOP_AUDIT_READ_SIZE  (64 * 1024)


static ngx_hoop_audit_seg_t *ngx_hoop_audit_spool_create(
    ngx_hoop_audit_ship_t *ship, uint64_t seq);
static ngx_int_t ngx_hoop_audit_spool_write(ngx_hoop_audit_ship_t *ship,
    ngx_hoop_audit_seg_t *seg, u_char *data, size_t len);
static ngx_hoop_audit_seg_t *ngx_hoop_audit_spool_open(
    ngx_hoop_audit_ship_t *ship, u_char *path, size_t len);
static void ngx_hoop_audit_spool_free(ngx_hoop_audit_ship_t *ship,
    ngx_hoop_audit_seg_t *seg, ngx_uint_t remove);
static void ngx_hoop_audit_spool_sync_dir(ngx_hoop_audit_ship_t *ship);
static ngx_uint_t ngx_hoop_audit_spool_name(u_char *name, size_t len);
static ngx_uint_t ngx_hoop_audit_spool_own(ngx_hoop_audit_ship_t *ship,
    u_char *path);
static int ngx_libc_cdecl ngx_hoop_audit_spool_cmp(const void *one,
    const void *two);


/* after the memory queue: the newest records go to the last file */

ngx_int_t
ngx_hoop_audit_spool_append(ngx_hoop_audit_ship_t *ship,
    ngx_hoop_audit_item_t *item)
{
    ngx_int_t              rc;
    ngx_queue_t           *q;
    ngx_hoop_audit_seg_t  *seg;

    if (ship->conf->spool.len == 0) {
        return NGX_DECLINED;
    }

    seg = NULL;

    if (!ngx_queue_empty(&ship->segments)) {
        q = ngx_queue_last(&ship->segments);
        seg = ngx_queue_data(q, ngx_hoop_audit_seg_t, queue);

        if (seg->size + (off_t) item->len > NGX_HOOP_AUDIT_SEGMENT_SIZE) {
            seg = NULL;
        }
    }

    if (seg == NULL) {
        seg = ngx_hoop_audit_spool_create(ship, item->seq);
        if (seg == NULL) {
            ship->spool_failed = 1;
            return NGX_ERROR;
        }

        ngx_queue_insert_tail(&ship->segments, &seg->queue);
        ship->nsegments++;
    }

    ngx_hoop_audit_record_seal(item);

    rc = ngx_hoop_audit_spool_write(ship, seg, item->data, item->len);

    if (rc != NGX_OK && seg->size == 0) {
        ngx_hoop_audit_spool_remove(ship, seg);
    }

    return rc;
}


/*
 * The connection went away: what was in memory (sent without a reply, or
 * not sent yet) is older than anything already spooled, so it goes to a new
 * file placed first.  Returns how many were lost.
 */

ngx_int_t
ngx_hoop_audit_spool_prepend(ngx_hoop_audit_ship_t *ship, ngx_queue_t *items)
{
    ngx_int_t               lost;
    ngx_queue_t            *q;
    ngx_hoop_audit_seg_t   *seg;
    ngx_hoop_audit_item_t  *item;

    q = ngx_queue_head(items);
    item = ngx_queue_data(q, ngx_hoop_audit_item_t, queue);

    seg = NULL;

    if (ship->conf->spool.len) {
        seg = ngx_hoop_audit_spool_create(ship, item->seq);
    }

    lost = 0;

    for (q = ngx_queue_head(items);
         q != ngx_queue_sentinel(items);
         q = ngx_queue_next(q))
    {
        item = ngx_queue_data(q, ngx_hoop_audit_item_t, queue);

        if (seg) {
            ngx_hoop_audit_record_seal(item);
        }

        if (seg == NULL
            || ngx_hoop_audit_spool_write(ship, seg, item->data, item->len)
               != NGX_OK)
        {
            lost++;
        }
    }

    if (seg == NULL) {
        ship->spool_failed = 1;
        return lost;
    }

    if (seg->size == 0) {
        ngx_hoop_audit_spool_free(ship, seg, 1);
        return lost;
    }

    ngx_queue_insert_head(&ship->segments, &seg->queue);
    ship->nsegments++;

    return lost;
}


static ngx_hoop_audit_seg_t *
ngx_hoop_audit_spool_create(ngx_hoop_audit_ship_t *ship, uint64_t seq)
{
    u_char                *tmp, *p, *name;
    size_t                 len;
    ngx_fd_t               fd;
    ngx_err_t              err;
    ngx_str_t             *dir;
    ngx_hoop_audit_seg_t  *seg;

    dir = &ship->conf->spool;

    len = dir->len + 1 + 12 + 1 + NGX_INT64_LEN + 1 + 16
          + sizeof(NGX_HOOP_AUDIT_SUFFIX);

    seg = ngx_alloc(sizeof(ngx_hoop_audit_seg_t) + 2 * (len + 2), ship->log);
    if (seg == NULL) {
        return NULL;
    }

    ngx_memzero(seg, sizeof(ngx_hoop_audit_seg_t));

    seg->path = (u_char *) &seg[1];
    tmp = seg->path + len + 2;

    p = ngx_cpymem(seg->path, dir->data, dir->len);
    *p++ = '/';
    name = p;
    p = ngx_sprintf(p, "%012xL-%P-%016xL" NGX_HOOP_AUDIT_SUFFIX,
                    (uint64_t) ship->started, ngx_pid, seq);
    *p = '\0';
    seg->path_len = p - seg->path;

    p = ngx_cpymem(tmp, dir->data, dir->len);
    *p++ = '/';
    *p++ = '.';
    p = ngx_cpymem(p, name, seg->path + seg->path_len - name);
    *p = '\0';

    fd = ngx_open_file(tmp, O_RDWR|O_APPEND, O_CREAT|O_EXCL, 0600);

    if (fd == NGX_INVALID_FILE) {
        ngx_log_error(NGX_LOG_ERR, ship->log, ngx_errno,
                      "hoop audit: cannot create spool file \"%s\"", tmp);
        ngx_free(seg);
        return NULL;
    }

    /* ours until we remove it or die: how others tell orphans apart */

    err = ngx_trylock_fd(fd);

    if (err || ngx_rename_file(tmp, seg->path) == NGX_FILE_ERROR) {
        ngx_log_error(NGX_LOG_ERR, ship->log, err ? err : ngx_errno,
                      "hoop audit: cannot set up spool file \"%s\"",
                      seg->path);
        (void) ngx_delete_file(tmp);
        (void) ngx_close_file(fd);
        ngx_free(seg);
        return NULL;
    }

    seg->fd = fd;

    if (ship->conf->fsync != NGX_HOOP_AUDIT_FSYNC_OFF) {
        ngx_hoop_audit_spool_sync_dir(ship);
    }

    ngx_log_debug1(NGX_LOG_DEBUG_CORE, ship->log, 0,
                   "hoop audit: spool file \"%s\" created", seg->path);

    return seg;
}


static ngx_int_t
ngx_hoop_audit_spool_write(ngx_hoop_audit_ship_t *ship,
    ngx_hoop_audit_seg_t *seg, u_char *data, size_t len)
{
    ssize_t                n;
    ngx_err_t              err;
    ngx_atomic_uint_t      used;
    ngx_hoop_audit_shm_t  *shm;

    shm = ship->shm;

    /* reserve the room first: the limit holds across workers */

    for ( ;; ) {
        used = shm->spool_bytes;

        if ((off_t) (used + len) > ship->conf->spool_max) {
            ngx_log_error(NGX_LOG_ERR, ship->log, 0,
                          "hoop audit: the spool is full (max_size=%O)",
                          ship->conf->spool_max);
            return NGX_DECLINED;
        }

        if (ngx_atomic_cmp_set(&shm->spool_bytes, used, used + len)) {
            break;
        }
    }

    n = write(seg->fd, data, len);

    if (n != (ssize_t) len) {
        err = (n == -1) ? ngx_errno : NGX_ENOSPC;

        ngx_log_error(NGX_LOG_ERR, ship->log, err,
                      "hoop audit: write() to spool file \"%s\" failed",
                      seg->path);

        /* no half record stays behind */
        if (n > 0 && ftruncate(seg->fd, seg->size) == -1) {
            ngx_log_error(NGX_LOG_ALERT, ship->log, ngx_errno,
                          "hoop audit: ftruncate(\"%s\") failed", seg->path);
        }

        ngx_hoop_audit_spool_release(shm, len);
        ship->spool_failed = 1;

        return NGX_ERROR;
    }

    seg->size += len;
    seg->disk += len;
    seg->dirty = 1;
    ship->spool_failed = 0;

    if (ship->conf->fsync == NGX_HOOP_AUDIT_FSYNC_ALWAYS) {
        if (fdatasync(seg->fd) == -1) {
            ngx_log_error(NGX_LOG_ALERT, ship->log, ngx_errno,
                          "hoop audit: fdatasync(\"%s\") failed", seg->path);
        }

        seg->dirty = 0;
    }

    ngx_hoop_audit_count(&shm->spooled, 1);

    return NGX_OK;
}


/*
 * The record at seg->read, read through the worker's buffer; rec points
 * into the buffer until the next call.
 *
 *   NGX_OK     a record; seg->read is past it
 *   NGX_DONE   nothing more to read in this file (for now)
 *   NGX_ERROR  the file cannot be read now
 */

ngx_int_t
ngx_hoop_audit_spool_next(ngx_hoop_audit_ship_t *ship,
    ngx_hoop_audit_seg_t *seg, ngx_hoop_audit_rec_t *rec)
{
    u_char     *p, *last;
    size_t      want, size;
    ssize_t     n;
    ngx_int_t   rc;

    for ( ;; ) {

        if (seg->read >= seg->size) {
            return NGX_DONE;
        }

        rec->len = 0;
        rc = NGX_AGAIN;

        if (ship->buf_seg == seg
            && seg->read >= ship->buf_off
            && seg->read < ship->buf_off + (off_t) ship->buf_len)
        {
            p = ship->buf + (seg->read - ship->buf_off);
            last = ship->buf + ship->buf_len;

            rc = ngx_hoop_audit_record_parse(p, last, rec);

            if (rc == NGX_OK) {
                seg->read += rec->len;
                return NGX_OK;
            }

            if (rc == NGX_DECLINED || rc == NGX_ERROR) {

                if (seg->read >= seg->checked) {
                    ngx_log_error(NGX_LOG_ERR, ship->log, 0,
                                  "hoop audit: damaged record in spool "
                                  "file \"%s\" at offset %O%s", seg->path,
                                  seg->read,
                                  rc == NGX_ERROR ? ", the rest of the file "
                                                    "is skipped" : "");
                    ngx_hoop_audit_count(&ship->shm->corrupt, 1);
                }

                if (rc == NGX_ERROR) {
                    seg->size = seg->read;
                    return NGX_DONE;
                }

                seg->read += rec->len;
                seg->checked = seg->read;

                if (seg->inflight == 0) {
                    seg->acked = seg->read;
                }

                continue;
            }

            /* NGX_AGAIN */

            if (ship->buf_off + (off_t) ship->buf_len >= seg->size) {
                /* the file ends inside the record: a torn write */

                if (seg->read >= seg->checked) {
                    ngx_log_error(NGX_LOG_ERR, ship->log, 0,
                                  "hoop audit: incomplete record at the end "
                                  "of spool file \"%s\" (offset %O) skipped",
                                  seg->path, seg->read);
                    ngx_hoop_audit_count(&ship->shm->corrupt, 1);
                }

                seg->size = seg->read;
                return NGX_DONE;
            }
        }

        want = ngx_max(rec->len, NGX_HOOP_AUDIT_READ_SIZE);

        if (want > ship->buf_size) {
            p = ngx_alloc(want, ship->log);
            if (p == NULL) {
                return NGX_ERROR;
            }

            if (ship->buf) {
                ngx_free(ship->buf);
            }

            ship->buf = p;
            ship->buf_size = want;
        }

        size = ngx_min((off_t) ship->buf_size, seg->size - seg->read);

        n = pread(seg->fd, ship->buf, size, seg->read);

        if (n <= 0) {
            ngx_log_error(NGX_LOG_ALERT, ship->log, n ? ngx_errno : 0,
                          "hoop audit: pread() from spool file \"%s\" at %O "
                          "failed", seg->path, seg->read);
            ship->buf_seg = NULL;
            return NGX_ERROR;
        }

        ship->buf_seg = seg;
        ship->buf_off = seg->read;
        ship->buf_len = n;

        if ((size_t) n < size) {
            /* shorter than we were told: what is there is all there is */
            seg->size = seg->read + n;
        }
    }
}


ngx_uint_t
ngx_hoop_audit_spool_done(ngx_hoop_audit_seg_t *seg)
{
    return seg->read >= seg->size && seg->inflight == 0;
}


/* every record of the file is in Redis */

void
ngx_hoop_audit_spool_remove(ngx_hoop_audit_ship_t *ship,
    ngx_hoop_audit_seg_t *seg)
{
    if (seg == ship->orphan) {
        ship->orphan = NULL;

    } else {
        ngx_queue_remove(&seg->queue);
        ship->nsegments--;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_CORE, ship->log, 0,
                   "hoop audit: spool file \"%s\" replayed", seg->path);

    ngx_hoop_audit_spool_free(ship, seg, 1);
}


static void
ngx_hoop_audit_spool_free(ngx_hoop_audit_ship_t *ship,
    ngx_hoop_audit_seg_t *seg, ngx_uint_t remove)
{
    if (ship->buf_seg == seg) {
        ship->buf_seg = NULL;
    }

    /* unlink before close: a locker that got in between sees nlink 0 */

    if (remove && ngx_delete_file(seg->path) == NGX_FILE_ERROR) {
        ngx_log_error(NGX_LOG_ALERT, ship->log, ngx_errno,
                      "hoop audit: cannot remove spool file \"%s\"",
                      seg->path);
    }

    if (ngx_close_file(seg->fd) == NGX_FILE_ERROR) {
        ngx_log_error(NGX_LOG_ALERT, ship->log, ngx_errno,
                      "hoop audit: close(\"%s\") failed", seg->path);
    }

    if (remove) {
        ngx_hoop_audit_spool_release(ship->shm, seg->disk);
    }

    ngx_free(seg);
}


void
ngx_hoop_audit_spool_sync(ngx_hoop_audit_ship_t *ship)
{
    ngx_queue_t           *q;
    ngx_hoop_audit_seg_t  *seg;

    for (q = ngx_queue_head(&ship->segments);
         q != ngx_queue_sentinel(&ship->segments);
         q = ngx_queue_next(q))
    {
        seg = ngx_queue_data(q, ngx_hoop_audit_seg_t, queue);

        if (!seg->dirty) {
            continue;
        }

        if (fdatasync(seg->fd) == -1) {
            ngx_log_error(NGX_LOG_ALERT, ship->log, ngx_errno,
                          "hoop audit: fdatasync(\"%s\") failed", seg->path);
        }

        seg->dirty = 0;
    }
}


/* the worker exits: its files stay for whoever replays orphans */

void
ngx_hoop_audit_spool_close(ngx_hoop_audit_ship_t *ship)
{
    ngx_queue_t           *q;
    ngx_hoop_audit_seg_t  *seg;

    if (ship->conf->fsync != NGX_HOOP_AUDIT_FSYNC_OFF) {
        ngx_hoop_audit_spool_sync(ship);
    }

    while (!ngx_queue_empty(&ship->segments)) {
        q = ngx_queue_head(&ship->segments);
        seg = ngx_queue_data(q, ngx_hoop_audit_seg_t, queue);
        ngx_queue_remove(q);
        ship->nsegments--;

        if (seg->read > 0 && seg->acked > 0) {
            ngx_log_error(NGX_LOG_NOTICE, ship->log, 0,
                          "hoop audit: spool file \"%s\" left partly "
                          "replayed: its first %O bytes may be sent again",
                          seg->path, seg->acked);
        }

        ngx_hoop_audit_spool_free(ship, seg, 0);
    }

    if (ship->orphan) {
        seg = ship->orphan;
        ship->orphan = NULL;
        ngx_hoop_audit_spool_free(ship, seg, 0);
    }
}


/*
 * The replayer's next orphan: the first name, in order, of a spool file no
 * live process holds a lock on.  NULL when there is none.
 */

ngx_hoop_audit_seg_t *
ngx_hoop_audit_spool_orphan(ngx_hoop_audit_ship_t *ship)
{
    DIR                   *dir;
    u_char                *path, **names, *p;
    size_t                 len, n;
    ngx_uint_t             i, count;
    ngx_str_t             *spool;
    ngx_pool_t            *pool;
    ngx_array_t            found;
    struct dirent         *de;
    ngx_hoop_audit_seg_t  *seg;

    spool = &ship->conf->spool;

    pool = ngx_create_pool(4096, ship->log);
    if (pool == NULL) {
        return NULL;
    }

    seg = NULL;

    if (ngx_array_init(&found, pool, 8, sizeof(u_char *)) != NGX_OK) {
        goto done;
    }

    dir = opendir((char *) spool->data);

    if (dir == NULL) {
        ngx_log_error(NGX_LOG_ERR, ship->log, ngx_errno,
                      "hoop audit: opendir(\"%V\") failed", spool);
        goto done;
    }

    while ((de = readdir(dir)) != NULL) {
        n = ngx_strlen(de->d_name);

        if (!ngx_hoop_audit_spool_name((u_char *) de->d_name, n)) {
            continue;
        }

        len = spool->len + 1 + n;

        path = ngx_pnalloc(pool, len + 1);
        if (path == NULL) {
            break;
        }

        p = ngx_cpymem(path, spool->data, spool->len);
        *p++ = '/';
        p = ngx_cpymem(p, de->d_name, n);
        *p = '\0';

        if (ngx_hoop_audit_spool_own(ship, path)) {
            continue;
        }

        names = ngx_array_push(&found);
        if (names == NULL) {
            break;
        }

        *names = path;
    }

    (void) closedir(dir);

    count = found.nelts;
    names = found.elts;

    if (count > 1) {
        ngx_qsort(names, count, sizeof(u_char *), ngx_hoop_audit_spool_cmp);
    }

    for (i = 0; i < count && seg == NULL; i++) {
        seg = ngx_hoop_audit_spool_open(ship, names[i],
                                        ngx_strlen(names[i]));
    }

done:

    ngx_destroy_pool(pool);

    return seg;
}


static ngx_hoop_audit_seg_t *
ngx_hoop_audit_spool_open(ngx_hoop_audit_ship_t *ship, u_char *path,
    size_t len)
{
    ngx_fd_t               fd;
    ngx_file_info_t        fi;
    ngx_hoop_audit_seg_t  *seg;

    fd = ngx_open_file(path, O_RDWR, NGX_FILE_OPEN, 0);

    if (fd == NGX_INVALID_FILE) {
        /* replayed and removed meanwhile, most likely */
        return NULL;
    }

    if (ngx_trylock_fd(fd) != 0) {
        /* a live worker's: closing our descriptor drops none of its locks */
        (void) ngx_close_file(fd);
        return NULL;
    }

    /* the owner may have unlinked it (all replayed) just before it let go */

    if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR || fi.st_nlink == 0) {
        (void) ngx_close_file(fd);
        return NULL;
    }

    seg = ngx_alloc(sizeof(ngx_hoop_audit_seg_t) + len + 1, ship->log);
    if (seg == NULL) {
        (void) ngx_close_file(fd);
        return NULL;
    }

    ngx_memzero(seg, sizeof(ngx_hoop_audit_seg_t));

    seg->fd = fd;
    seg->path = (u_char *) &seg[1];
    seg->path_len = len;
    ngx_memcpy(seg->path, path, len + 1);
    seg->size = ngx_file_size(&fi);
    seg->disk = seg->size;
    seg->orphan = 1;

    return seg;
}


/* the total size of the spool files: counted when the counters start */

off_t
ngx_hoop_audit_spool_usage(ngx_str_t *spool, ngx_log_t *log)
{
    DIR              *dir;
    off_t             total;
    size_t            n;
    struct stat       st;
    struct dirent    *de;

    dir = opendir((char *) spool->data);
    if (dir == NULL) {
        return 0;
    }

    total = 0;

    while ((de = readdir(dir)) != NULL) {
        n = ngx_strlen(de->d_name);

        if (!ngx_hoop_audit_spool_name((u_char *) de->d_name, n)) {
            continue;
        }

        if (fstatat(dirfd(dir), de->d_name, &st, 0) == 0) {
            total += st.st_size;
        }
    }

    (void) closedir(dir);

    return total;
}


void
ngx_hoop_audit_spool_release(ngx_hoop_audit_shm_t *shm, off_t size)
{
    ngx_atomic_uint_t  used, left;

    do {
        used = shm->spool_bytes;
        left = (used > (ngx_atomic_uint_t) size) ? used - size : 0;
    } while (!ngx_atomic_cmp_set(&shm->spool_bytes, used, left));
}


static void
ngx_hoop_audit_spool_sync_dir(ngx_hoop_audit_ship_t *ship)
{
    ngx_fd_t  fd;

    /* the new name must survive a crash as much as the records do */

    fd = ngx_open_file(ship->conf->spool.data, O_RDONLY, NGX_FILE_OPEN, 0);

    if (fd == NGX_INVALID_FILE) {
        return;
    }

    (void) fsync(fd);
    (void) ngx_close_file(fd);
}


/* a spool file's name: not a dot-name (being created), ends in .spool */

static ngx_uint_t
ngx_hoop_audit_spool_name(u_char *name, size_t len)
{
    size_t  slen;

    slen = sizeof(NGX_HOOP_AUDIT_SUFFIX) - 1;

    return len > slen
           && name[0] != '.'
           && ngx_strncmp(name + len - slen, NGX_HOOP_AUDIT_SUFFIX, slen)
              == 0;
}


static ngx_uint_t
ngx_hoop_audit_spool_own(ngx_hoop_audit_ship_t *ship, u_char *path)
{
    ngx_queue_t           *q;
    ngx_hoop_audit_seg_t  *seg;

    for (q = ngx_queue_head(&ship->segments);
         q != ngx_queue_sentinel(&ship->segments);
         q = ngx_queue_next(q))
    {
        seg = ngx_queue_data(q, ngx_hoop_audit_seg_t, queue);

        if (ngx_strcmp(seg->path, path) == 0) {
            return 1;
        }
    }

    return 0;
}


static int ngx_libc_cdecl
ngx_hoop_audit_spool_cmp(const void *one, const void *two)
{
    u_char *const  *a = one;
    u_char *const  *b = two;

    return ngx_strcmp(*a, *b);
}
