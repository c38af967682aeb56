{
  "targets": [
    {
      "target_name": "ebpf_libbpf",
      "sources": [
        "native/addon.cc",
        "native/errors.cc",
        "native/log_capture.cc",
        "native/fd_handle.cc",
        "native/object.cc",
        "native/program.cc",
        "native/map.cc",
        "native/link.cc",
        "native/btf.cc",
        "native/socket.cc",
        "native/netns.cc",
        "native/capabilities.cc",
        "native/seccomp.cc",
        "native/memory.cc",
        "native/sched.cc"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")"
      ],
      "defines": ["NAPI_CPP_EXCEPTIONS", "NAPI_VERSION=8", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "cflags!": ["-fno-exceptions", "-O3"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++17", "-O3"],
      "cflags": ["<!@(pkg-config --cflags libbpf libelf zlib libseccomp)", "-O2", "-Wall", "-Wextra", "-Wno-unused-parameter", "-Wno-missing-field-initializers"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-O2"],
      "libraries": ["<!@(pkg-config --libs libbpf libelf zlib libseccomp)"]
    }
  ]
}
