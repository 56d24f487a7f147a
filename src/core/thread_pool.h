// ThreadPool: a fixed set of threads running posted tasks in FIFO order, for blocking work
// (database reads, hashing) that must stay off the network threads.
// Thread-safe. The destructor finishes the queued tasks, then joins.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace beta500 {

class ThreadPool {
   public:
    explicit ThreadPool(size_t threads);
    ~ThreadPool();
    ThreadPool(const ThreadPool&) = delete;
    ThreadPool& operator=(const ThreadPool&) = delete;

    // Queues `task`; it must not throw (a throwing task aborts: wrap and map errors inside).
    void Post(std::function<void()> task);

   private:
    void Run();

    std::mutex mutex_;
    std::condition_variable wake_;
    std::deque<std::function<void()>> tasks_;  // GUARDED_BY(mutex_)
    bool stopping_ = false;                    // GUARDED_BY(mutex_)
    std::vector<std::thread> threads_;
};

}  // namespace beta500
