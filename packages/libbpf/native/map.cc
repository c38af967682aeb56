// Map operations on a map fd. readAll of a large map, and iteration, run on the libuv thread pool.
#include "map.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>
#include <unordered_set>
#include <vector>

#include "errors.h"
#include "fd_handle.h"
#include "log_capture.h"

#ifndef ENOTSUPP
#define ENOTSUPP 524
#endif

namespace ebpf {

namespace {

int ArgInt(const Napi::Value& v) { return v.As<Napi::Number>().Int32Value(); }

Napi::Value MapInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  bpf_map_info mi;
  memset(&mi, 0, sizeof(mi));
  uint32_t len = sizeof(mi);
  LogCapture cap;
  int err = bpf_obj_get_info_by_fd(ArgInt(info[0]), &mi, &len);
  if (err) ThrowErrno(env, "bpf_obj_get_info_by_fd(map)", err, cap.text());
  Napi::Object o = Napi::Object::New(env);
  o.Set("id", mi.id);
  o.Set("name", std::string(mi.name, strnlen(mi.name, sizeof(mi.name))));
  const char* t = libbpf_bpf_map_type_str(static_cast<bpf_map_type>(mi.type));
  o.Set("type", t ? std::string(t) : "unknown(" + std::to_string(mi.type) + ")");
  o.Set("keySize", mi.key_size);
  o.Set("valueSize", mi.value_size);
  o.Set("maxEntries", mi.max_entries);
  o.Set("flags", mi.map_flags);
  o.Set("btfId", mi.btf_id);
  o.Set("btfKeyTypeId", mi.btf_key_type_id);
  o.Set("btfValueTypeId", mi.btf_value_type_id);
  return o;
}

// lookup(fd, key, valueLen) -> Buffer | undefined
Napi::Value Lookup(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Uint8Array key = info[1].As<Napi::Uint8Array>();
  size_t len = static_cast<size_t>(info[2].As<Napi::Number>().Int64Value());
  std::vector<uint8_t> value(len);
  int err = bpf_map_lookup_elem(ArgInt(info[0]), key.Data(), value.data());
  if (err == -ENOENT) return env.Undefined();
  if (err) ThrowErrno(env, "bpf_map_lookup_elem", err);
  return Napi::Buffer<uint8_t>::Copy(env, value.data(), value.size());
}

// update(fd, key, value, flags)
Napi::Value Update(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Uint8Array key = info[1].As<Napi::Uint8Array>();
  Napi::Uint8Array value = info[2].As<Napi::Uint8Array>();
  int err = bpf_map_update_elem(ArgInt(info[0]), key.Data(), value.Data(), info[3].As<Napi::Number>().Uint32Value());
  if (err) ThrowErrno(env, "bpf_map_update_elem", err);
  return env.Undefined();
}

// delete(fd, key) -> boolean
Napi::Value Delete(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Uint8Array key = info[1].As<Napi::Uint8Array>();
  int err = bpf_map_delete_elem(ArgInt(info[0]), key.Data());
  if (err == -ENOENT) return Napi::Boolean::New(env, false);
  if (err) ThrowErrno(env, "bpf_map_delete_elem", err);
  return Napi::Boolean::New(env, true);
}

// nextKey(fd, key | null, keySize) -> Buffer | undefined
Napi::Value NextKey(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  size_t keySize = static_cast<size_t>(info[2].As<Napi::Number>().Int64Value());
  std::vector<uint8_t> next(keySize);
  const void* cur = info[1].IsTypedArray() ? static_cast<const void*>(info[1].As<Napi::Uint8Array>().Data()) : nullptr;
  int err = bpf_map_get_next_key(ArgInt(info[0]), cur, next.data());
  if (err == -ENOENT) return env.Undefined();
  if (err) ThrowErrno(env, "bpf_map_get_next_key", err);
  return Napi::Buffer<uint8_t>::Copy(env, next.data(), next.size());
}

// fromId(id) -> FdHandle
Napi::Value GetFdById(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t id = info[0].As<Napi::Number>().Uint32Value();
  LogCapture cap;
  int fd = bpf_map_get_fd_by_id(id);
  if (fd < 0) ThrowErrno(env, "bpf_map_get_fd_by_id(" + std::to_string(id) + ")", fd, cap.text());
  return FdHandle::New(env, fd);
}

Napi::Value PossibleCpus(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int n = libbpf_num_possible_cpus();
  if (n < 0) ThrowErrno(env, "libbpf_num_possible_cpus", n);
  return Napi::Number::New(env, n);
}

Napi::Value ProbeMapType(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  LogCapture cap;
  errno = 0;
  int r = libbpf_probe_bpf_map_type(static_cast<bpf_map_type>(ArgInt(info[0])), nullptr);
  // As in ProbeProgType: a permission error is not "unsupported".
  if (r == 0 && (errno == EPERM || errno == EACCES)) ThrowErrno(env, "libbpf_probe_bpf_map_type (probe map)", -errno, cap.text());
  if (r == -EOPNOTSUPP) return Napi::Boolean::New(env, false);
  if (r < 0) ThrowErrno(env, "libbpf_probe_bpf_map_type", r, cap.text());
  return Napi::Boolean::New(env, r > 0);
}

// mapLookupBatch(handle, first, inCursor, outCursor, keys, values, offset, count, keySize, valueStride)
//   -> n * 2 + (1 when the map has no more entries), or -1 when `count` cannot hold a hash bucket
// One bpf_map_lookup_batch call on the JS thread, writing `count` entries at most into `keys` and
// `values` from entry `offset` on: the JS side (BpfMap.readAll) loops over the map a batch at a
// time, with buffers it keeps, yielding to the event loop between slices of batches. One batch
// of 4096 entries takes well under a millisecond; a hop to the thread pool and back costs two
// thread wake-ups, which on a busy machine (every core taken) cost more than the read itself.
Napi::Value LookupBatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  FdHandle* h = FdHandle::From(env, info[0]);
  bool first = info[1].As<Napi::Boolean>().Value();
  Napi::Uint8Array inCursor = info[2].As<Napi::Uint8Array>();
  Napi::Uint8Array outCursor = info[3].As<Napi::Uint8Array>();
  Napi::Uint8Array keys = info[4].As<Napi::Uint8Array>();
  Napi::Uint8Array values = info[5].As<Napi::Uint8Array>();
  size_t offset = static_cast<size_t>(info[6].As<Napi::Number>().Int64Value());
  uint32_t count = info[7].As<Napi::Number>().Uint32Value();
  size_t keySize = static_cast<size_t>(info[8].As<Napi::Number>().Int64Value());
  size_t valueStride = static_cast<size_t>(info[9].As<Napi::Number>().Int64Value());
  if ((offset + count) * keySize > keys.ByteLength() || (offset + count) * valueStride > values.ByteLength() ||
      inCursor.ByteLength() < keySize || outCursor.ByteLength() < keySize || inCursor.ByteLength() < 4 ||
      outCursor.ByteLength() < 4) {
    ThrowTypeError(env, "mapLookupBatch: buffers too small for the batch");
  }
  LIBBPF_OPTS(bpf_map_batch_opts, opts);
  uint32_t n = count;
  int r = bpf_map_lookup_batch(h->rawFd(), first ? nullptr : inCursor.Data(), outCursor.Data(),
                               keys.Data() + offset * keySize, values.Data() + offset * valueStride, &n, &opts);
  int e = r < 0 ? -r : 0;
  if (e == 0) return Napi::Number::New(env, static_cast<double>(n) * 2);
  if (e == ENOENT) return Napi::Number::New(env, static_cast<double>(n) * 2 + 1);
  if (e == ENOSPC) return Napi::Number::New(env, -1);
  ThrowErrno(env, "bpf_map_lookup_batch", e);
}

// mapReadBatches(handle, keys, values, cursorA, cursorB, batchSize, keySize, valueStride[, offset, first, limit])
//   -> Promise<{ count, syscalls, done, paused, first, swapped, chunk, errno }>
// The whole batch read of a large map on a libuv worker thread: bpf_map_lookup_batch calls one
// after the other, straight into `keys` and `values` (buffers the map allocated once and keeps;
// held by references until the read settles), with one thread hop there and one back for the
// whole map instead of a yield to the event loop every 2 ms. Under a CPU hog every such yield of
// a sliced read on the JS thread let the scheduler run something else; here the loop runs as a
// C reader does and the event loop is free meanwhile.
//
// bpf() errors do not reject: `errno` says which (with `first`: nothing was read yet, so the JS
// side can fall back to iteration for map types without batch lookups). `done` is false without
// an error when the buffers cannot hold the next batch (a hash bucket made it grow past the room
// left): the JS side continues from `count` with the cursor in `swapped ? cursorB : cursorA`.
// The handle is held (Acquire): a close() meanwhile is deferred until the read settles.
//
// Hand-over (`limit` > 0): the worker returns (`paused`, not `done`) once it has read at least
// `limit` entries past `offset`, so the JS side can work on entries [0, count) while the next
// call, started from `offset = count`, `first = false` and the cursor named by `swapped` as
// cursorA, fills the buffers past `count`. `count` is absolute (offset included). The two sides
// never touch the same bytes: the worker writes only past `offset`.
class BatchReadWorker : public Napi::AsyncWorker {
 public:
  BatchReadWorker(Napi::Env env, Napi::Object handleObj, FdHandle* handle, Napi::Uint8Array keys,
                  Napi::Uint8Array values, Napi::Uint8Array cursorA, Napi::Uint8Array cursorB, uint32_t batchSize,
                  size_t keySize, size_t valueStride, size_t offset, bool first, size_t limit)
      : Napi::AsyncWorker(env, "ebpf:readBatches"),
        deferred_(Napi::Promise::Deferred::New(env)),
        handle_(handle),
        keys_(keys.Data()),
        values_(values.Data()),
        cursorA_(cursorA.Data()),
        cursorB_(cursorB.Data()),
        chunk_(batchSize),
        keySize_(keySize),
        valueStride_(valueStride),
        offset_(offset),
        limit_(limit),
        count_(offset),
        first_(first) {
    handleRef_ = Napi::Persistent(handleObj);
    keysRef_ = Napi::Persistent(keys);
    valuesRef_ = Napi::Persistent(values);
    cursorARef_ = Napi::Persistent(cursorA);
    cursorBRef_ = Napi::Persistent(cursorB);
    size_t byKeys = keySize == 0 ? SIZE_MAX : keys.ByteLength() / keySize;
    size_t byValues = valueStride == 0 ? SIZE_MAX : values.ByteLength() / valueStride;
    capacity_ = std::min(byKeys, byValues);
    handle_->Acquire();
    fd_ = handle_->rawFd();
  }

  Napi::Promise Promise() { return deferred_.Promise(); }

  void Execute() override {
    LIBBPF_OPTS(bpf_map_batch_opts, opts);
    uint8_t* in = cursorA_;
    uint8_t* out = cursorB_;
    for (;;) {
      if (count_ + chunk_ > capacity_) return;  // outgrown: the JS side goes on in larger buffers
      uint32_t n = chunk_;
      int r = bpf_map_lookup_batch(fd_, first_ ? nullptr : in, out, keys_ + count_ * keySize_,
                                   values_ + count_ * valueStride_, &n, &opts);
      syscalls_++;
      int e = r < 0 ? -r : 0;
      if (e == ENOSPC) {
        // A hash bucket holds more entries than fit in this batch: grow and retry.
        if (chunk_ >= (1u << 24)) {
          errno_ = e;
          return;
        }
        chunk_ *= 2;
        continue;
      }
      if (e != 0 && e != ENOENT) {
        errno_ = e;
        return;
      }
      count_ += n;
      if (e == ENOENT) {
        done_ = true;
        return;
      }
      std::swap(in, out);
      swapped_ = !swapped_;
      first_ = false;
      if (limit_ > 0 && count_ - offset_ >= limit_) {
        paused_ = true;
        return;
      }
    }
  }

  void OnOK() override {
    Napi::Env env = Env();
    handle_->Release();
    Napi::Object out = Napi::Object::New(env);
    out.Set("count", Napi::Number::New(env, static_cast<double>(count_)));
    out.Set("syscalls", Napi::Number::New(env, static_cast<double>(syscalls_)));
    out.Set("done", Napi::Boolean::New(env, done_));
    out.Set("paused", Napi::Boolean::New(env, paused_));
    out.Set("first", Napi::Boolean::New(env, first_));
    out.Set("swapped", Napi::Boolean::New(env, swapped_));
    out.Set("chunk", Napi::Number::New(env, chunk_));
    out.Set("errno", Napi::Number::New(env, errno_));
    deferred_.Resolve(out);
  }

  void OnError(const Napi::Error& e) override {
    handle_->Release();
    deferred_.Reject(e.Value());
  }

 private:
  Napi::Promise::Deferred deferred_;
  Napi::ObjectReference handleRef_;
  Napi::Reference<Napi::Uint8Array> keysRef_;
  Napi::Reference<Napi::Uint8Array> valuesRef_;
  Napi::Reference<Napi::Uint8Array> cursorARef_;
  Napi::Reference<Napi::Uint8Array> cursorBRef_;
  FdHandle* handle_;
  int fd_ = -1;
  uint8_t* keys_;
  uint8_t* values_;
  uint8_t* cursorA_;
  uint8_t* cursorB_;
  uint32_t chunk_;
  size_t keySize_;
  size_t valueStride_;
  size_t offset_;
  size_t limit_;
  size_t capacity_ = 0;
  size_t count_;
  uint64_t syscalls_ = 0;
  bool done_ = false;
  bool paused_ = false;
  bool first_;
  bool swapped_ = false;
  int errno_ = 0;
};

Napi::Value ReadBatches(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  FdHandle* h = FdHandle::From(env, info[0]);
  // A continuation (a read handed over in runs) goes on with a handle the read holds (mapHold):
  // a close() since then is deferred, so the fd is still open. A new read needs an open handle.
  bool continuation = (info.Length() > 8 && info[8].IsNumber() && info[8].As<Napi::Number>().Int64Value() > 0) ||
                      (info.Length() > 9 && info[9].IsBoolean() && !info[9].As<Napi::Boolean>().Value());
  if ((continuation ? h->rawFd() : h->fd()) < 0) ThrowErrno(env, "readAll", EBADF);
  for (size_t i = 1; i <= 4; i++) {
    if (!info[i].IsTypedArray() || info[i].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
      ThrowTypeError(env, "mapReadBatches: keys, values and cursors must be Uint8Arrays");
    }
  }
  Napi::Uint8Array keys = info[1].As<Napi::Uint8Array>();
  Napi::Uint8Array values = info[2].As<Napi::Uint8Array>();
  Napi::Uint8Array cursorA = info[3].As<Napi::Uint8Array>();
  Napi::Uint8Array cursorB = info[4].As<Napi::Uint8Array>();
  uint32_t batchSize = info[5].As<Napi::Number>().Uint32Value();
  size_t keySize = static_cast<size_t>(info[6].As<Napi::Number>().Int64Value());
  size_t valueStride = static_cast<size_t>(info[7].As<Napi::Number>().Int64Value());
  int64_t offset = info.Length() > 8 && info[8].IsNumber() ? info[8].As<Napi::Number>().Int64Value() : 0;
  bool first = info.Length() > 9 && info[9].IsBoolean() ? info[9].As<Napi::Boolean>().Value() : true;
  int64_t limit = info.Length() > 10 && info[10].IsNumber() ? info[10].As<Napi::Number>().Int64Value() : 0;
  // The kernel writes a key (or a 4-byte bucket index) into the cursors.
  size_t cursorMin = std::max<size_t>(keySize, 4);
  if (batchSize == 0 || cursorA.ByteLength() < cursorMin || cursorB.ByteLength() < cursorMin ||
      cursorA.Data() == cursorB.Data()) {
    ThrowTypeError(env, "mapReadBatches: bad batch size or cursors");
  }
  if (offset < 0 || limit < 0 || (keySize > 0 && static_cast<uint64_t>(offset) > keys.ByteLength() / keySize) ||
      (valueStride > 0 && static_cast<uint64_t>(offset) > values.ByteLength() / valueStride)) {
    ThrowTypeError(env, "mapReadBatches: bad offset or limit");
  }
  auto* w = new BatchReadWorker(env, info[0].As<Napi::Object>(), h, keys, values, cursorA, cursorB, batchSize, keySize,
                                valueStride, static_cast<size_t>(offset), first, static_cast<size_t>(limit));
  Napi::Promise p = w->Promise();
  w->Queue();
  return p;
}

// mapHold(handle) / mapUnhold(handle): a read in several calls holds the handle, so a close()
// meanwhile is deferred until it ends (as for the thread-pool read).
Napi::Value Hold(const Napi::CallbackInfo& info) {
  FdHandle* h = FdHandle::From(info.Env(), info[0]);
  if (h->fd() < 0) ThrowErrno(info.Env(), "readAll", EBADF);
  h->Acquire();
  return info.Env().Undefined();
}

Napi::Value Unhold(const Napi::CallbackInfo& info) {
  FdHandle::From(info.Env(), info[0])->Release();
  return info.Env().Undefined();
}

// Reads every entry of a map with get_next_key + lookup per key, off the JS thread (two syscalls
// per key: the fallback for map types without batch lookups). Holds a reference on the FdHandle
// (Acquire) so a concurrent close() is deferred until the read finishes.
//
// With target buffers (keys and values, allocated once by the caller and reused on every read),
// the entries are written straight into them: no allocation, no zero-filling, no new JS buffer.
// Only when they turn out too small does the read continue in vectors of its own, returned as
// new buffers.
class ReadAllWorker : public Napi::AsyncWorker {
 public:
  ReadAllWorker(Napi::Env env, Napi::Object handleObj, FdHandle* handle, size_t keySize, size_t valueStride,
                uint32_t maxEntries)
      : Napi::AsyncWorker(env, "ebpf:readAll"),
        deferred_(Napi::Promise::Deferred::New(env)),
        handle_(handle),
        keySize_(keySize),
        valueStride_(valueStride),
        maxEntries_(maxEntries) {
    handleRef_ = Napi::Persistent(handleObj);
    handle_->Acquire();
    fd_ = handle_->rawFd();
  }

  // Entries go into these buffers (kept alive by references until the read is done).
  void SetTargets(Napi::Uint8Array keys, Napi::Uint8Array values) {
    keysRef_ = Napi::Persistent(keys);
    valuesRef_ = Napi::Persistent(values);
    keysBase_ = keys.Data();
    valuesBase_ = values.Data();
    size_t byKeys = keySize_ == 0 ? SIZE_MAX : keys.ByteLength() / keySize_;
    size_t byValues = valueStride_ == 0 ? SIZE_MAX : values.ByteLength() / valueStride_;
    capacity_ = std::min(byKeys, byValues);
    own_ = false;
  }

  Napi::Promise Promise() { return deferred_.Promise(); }

  void Execute() override { ReadIterate(); }

  void OnOK() override {
    Napi::Env env = Env();
    handle_->Release();
    if (err_ != 0) {
      deferred_.Reject(MakeErrnoError(env, op_, err_));
      return;
    }
    Napi::Object out = Napi::Object::New(env);
    out.Set("count", Napi::Number::New(env, static_cast<double>(count_)));
    out.Set("keySize", Napi::Number::New(env, static_cast<double>(keySize_)));
    out.Set("valueStride", Napi::Number::New(env, static_cast<double>(valueStride_)));
    if (own_) {
      // No targets, or they were too small: the entries are in our vectors.
      keys_.resize(count_ * keySize_);
      values_.resize(count_ * valueStride_);
      out.Set("keys", ToBuffer(env, std::move(keys_)));
      out.Set("values", ToBuffer(env, std::move(values_)));
    }
    out.Set("method", "iterate");
    out.Set("syscalls", Napi::Number::New(env, static_cast<double>(syscalls_)));
    deferred_.Resolve(out);
  }

  void OnError(const Napi::Error& e) override {
    handle_->Release();
    deferred_.Reject(e.Value());
  }

 private:
  static Napi::Buffer<uint8_t> ToBuffer(Napi::Env env, std::vector<uint8_t>&& v) {
    if (v.empty()) return Napi::Buffer<uint8_t>::New(env, 0);
    auto* heap = new std::vector<uint8_t>(std::move(v));
    return Napi::Buffer<uint8_t>::NewOrCopy(env, heap->data(), heap->size(),
                                            [heap](Napi::Env, uint8_t*) { delete heap; });
  }

  uint8_t* KeyAt(size_t i) { return (own_ ? keys_.data() : keysBase_) + i * keySize_; }
  uint8_t* ValueAt(size_t i) { return (own_ ? values_.data() : valuesBase_) + i * valueStride_; }

  // Room for `entries` entries. Targets that are too small are left for vectors holding what was
  // read so far; vectors grow geometrically (each growth zero-fills only its new part).
  void Reserve(size_t entries) {
    if (!own_) {
      if (entries <= capacity_) return;
      own_ = true;
      keys_.assign(keysBase_, keysBase_ + count_ * keySize_);
      values_.assign(valuesBase_, valuesBase_ + count_ * valueStride_);
    }
    if (keys_.size() < entries * keySize_) keys_.resize(std::max(entries, keys_.size() / std::max<size_t>(keySize_, 1) * 2) * keySize_);
    if (values_.size() < entries * valueStride_) values_.resize(std::max(entries, values_.size() / std::max<size_t>(valueStride_, 1) * 2) * valueStride_);
  }

  // get_next_key + lookup per key. Keys deleted between the two calls are skipped; a restart
  // from the first key (get_next_key on a vanished key) cannot double count thanks to `seen`.
  void ReadIterate() {
    std::vector<uint8_t> prev(keySize_), next(keySize_);
    std::unordered_set<std::string> seen;
    bool havePrev = false;
    // Bound the walk in case of constant churn.
    uint64_t budget = static_cast<uint64_t>(maxEntries_) * 4 + 1024;
    while (budget-- > 0) {
      int r = bpf_map_get_next_key(fd_, havePrev ? prev.data() : nullptr, next.data());
      syscalls_++;
      if (r == -ENOENT) return;
      if (r < 0) {
        err_ = -r;
        op_ = "bpf_map_get_next_key";
        return;
      }
      std::string k(reinterpret_cast<const char*>(next.data()), keySize_);
      if (seen.count(k) != 0) {
        // The walk restarted (the previous key vanished): keep going from here.
        prev.swap(next);
        havePrev = true;
        continue;
      }
      Reserve(count_ + 1);
      r = bpf_map_lookup_elem(fd_, next.data(), ValueAt(count_));
      syscalls_++;
      if (r == -ENOENT) {
        // Deleted after get_next_key: skip it but continue from the last key that existed.
        if (!havePrev) {
          // It was the first key: continue from it anyway (get_next_key restarts on a missing key).
          prev.swap(next);
          havePrev = true;
        }
        seen.insert(std::move(k));
        continue;
      }
      if (r < 0) {
        err_ = -r;
        op_ = "bpf_map_lookup_elem";
        return;
      }
      memcpy(KeyAt(count_), next.data(), keySize_);
      count_++;
      seen.insert(std::move(k));
      prev.swap(next);
      havePrev = true;
    }
    err_ = EAGAIN;
    op_ = "map iteration (entries kept changing)";
  }

  Napi::Promise::Deferred deferred_;
  Napi::ObjectReference handleRef_;
  FdHandle* handle_;
  int fd_ = -1;
  size_t keySize_;
  size_t valueStride_;
  uint32_t maxEntries_;

  // Targets (when given) and, once they are outgrown or without them, our own vectors.
  Napi::Reference<Napi::Uint8Array> keysRef_;
  Napi::Reference<Napi::Uint8Array> valuesRef_;
  uint8_t* keysBase_ = nullptr;
  uint8_t* valuesBase_ = nullptr;
  size_t capacity_ = 0;
  bool own_ = true;
  std::vector<uint8_t> keys_;
  std::vector<uint8_t> values_;
  size_t count_ = 0;
  uint64_t syscalls_ = 0;
  int err_ = 0;
  std::string op_;
};

// mapIterateAll(handle, keySize, valueStride, maxEntries, keys?, values?) -> Promise<MapEntries>
// With keys and values (Uint8Arrays), the result has no keys/values of its own when they held
// every entry: the caller views its buffers.
Napi::Value IterateAll(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  FdHandle* h = FdHandle::From(env, info[0]);
  if (h->fd() < 0) ThrowErrno(env, "readAll", EBADF);
  auto* w = new ReadAllWorker(env, info[0].As<Napi::Object>(), h,
                              static_cast<size_t>(info[1].As<Napi::Number>().Int64Value()),
                              static_cast<size_t>(info[2].As<Napi::Number>().Int64Value()),
                              info[3].As<Napi::Number>().Uint32Value());
  if (info.Length() >= 6 && info[4].IsTypedArray() && info[5].IsTypedArray()) {
    w->SetTargets(info[4].As<Napi::Uint8Array>(), info[5].As<Napi::Uint8Array>());
  }
  Napi::Promise p = w->Promise();
  w->Queue();
  return p;
}

// mapCreate(type, name, keySize, valueSize, maxEntries, flags) -> FdHandle: a map outside any
// object (the agent's own, such as the pod-scope gate's filter and program array).
Napi::Value MapCreate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int type = ArgInt(info[0]);
  std::string name = info[1].As<Napi::String>().Utf8Value();
  uint32_t keySize = info[2].As<Napi::Number>().Uint32Value();
  uint32_t valueSize = info[3].As<Napi::Number>().Uint32Value();
  uint32_t maxEntries = info[4].As<Napi::Number>().Uint32Value();
  LIBBPF_OPTS(bpf_map_create_opts, opts, .map_flags = info[5].As<Napi::Number>().Uint32Value());
  LogCapture cap;
  int fd = bpf_map_create(static_cast<bpf_map_type>(type), name.c_str(), keySize, valueSize, maxEntries, &opts);
  if (fd < 0) ThrowErrno(env, "bpf_map_create(" + name + ")", -errno, cap.text());
  return FdHandle::New(env, fd);
}

}  // namespace

void InitMap(Napi::Env env, Napi::Object exports) {
  exports.Set("mapInfo", Napi::Function::New<MapInfo>(env, "mapInfo"));
  exports.Set("mapLookup", Napi::Function::New<Lookup>(env, "mapLookup"));
  exports.Set("mapUpdate", Napi::Function::New<Update>(env, "mapUpdate"));
  exports.Set("mapDelete", Napi::Function::New<Delete>(env, "mapDelete"));
  exports.Set("mapNextKey", Napi::Function::New<NextKey>(env, "mapNextKey"));
  exports.Set("mapGetFdById", Napi::Function::New<GetFdById>(env, "mapGetFdById"));
  exports.Set("mapIterateAll", Napi::Function::New<IterateAll>(env, "mapIterateAll"));
  exports.Set("mapLookupBatch", Napi::Function::New<LookupBatch>(env, "mapLookupBatch"));
  exports.Set("mapReadBatches", Napi::Function::New<ReadBatches>(env, "mapReadBatches"));
  exports.Set("mapHold", Napi::Function::New<Hold>(env, "mapHold"));
  exports.Set("mapUnhold", Napi::Function::New<Unhold>(env, "mapUnhold"));
  exports.Set("possibleCpus", Napi::Function::New<PossibleCpus>(env, "possibleCpus"));
  exports.Set("probeMapType", Napi::Function::New<ProbeMapType>(env, "probeMapType"));
  exports.Set("mapCreate", Napi::Function::New<MapCreate>(env, "mapCreate"));
}

}  // namespace ebpf
