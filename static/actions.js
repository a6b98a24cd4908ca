// A CI run's page: while the run is not finished, ask the server once a second for what each
// job's log gained since the last offset, and for the run's and jobs' states, so the log grows
// and the badges and buttons change without a reload. Without this file the page shows the
// log as it was when loaded.
(() => {
  const page = document.getElementById("run");
  if (!page) return;
  // A run that just ended (cancelled, say) may still get its last line from the worker.
  let quiet = 0;
  const jobs = new Map();
  page.querySelectorAll("section.job").forEach((section) => jobs.set(section.dataset.job, section));
  const setState = (badge, state, label) => {
    badge.className = badge.className.replace(/ci-state-\S+/, "ci-state-" + state);
    badge.textContent = label;
  };
  const show = (element, text) => {
    if (!element) return;
    element.textContent = text;
    element.hidden = !text;
  };
  const poll = async () => {
    const offsets = [...jobs].map(([id, section]) => `${id}:${section.dataset.offset}`).join(",");
    let body;
    try {
      const response = await fetch(`${page.dataset.liveUrl}?offsets=${offsets}`, { headers: { Accept: "application/json" } });
      if (!response.ok) throw new Error(response.status);
      body = await response.json();
    } catch (error) {
      setTimeout(poll, 3000); // the server restarting, say: try again a little later
      return;
    }
    let grew = false;
    for (const job of body.jobs) {
      const section = jobs.get(String(job.id));
      if (!section) continue;
      if (job.text) {
        const log = section.querySelector(".job-log");
        const atBottom = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
        log.append(document.createTextNode(job.text));
        if (atBottom) log.scrollTop = log.scrollHeight;
        grew = true;
      }
      section.dataset.offset = job.offset;
      setState(section.querySelector(".job-state"), job.state, job.label);
      const reason = section.querySelector(".job-reason");
      show(reason, job.reason);
      reason.classList.toggle("is-bad", ["failed", "errored", "timed_out"].includes(job.state));
      show(section.querySelector(".job-note:not(.is-bad)"), job.note);
      section.querySelector(".job-duration").textContent = job.duration;
    }
    setState(document.getElementById("run-state"), body.state, body.label);
    page.querySelectorAll(".run-buttons form").forEach((form) => {
      form.hidden = !body.actions.includes(form.dataset.action);
    });
    const approval = document.getElementById("approval-note");
    if (approval && body.state !== "waiting") approval.hidden = true;
    page.dataset.finished = String(body.finished);
    // Once finished, a few more looks drain what the worker wrote last; then stop.
    quiet = grew ? 0 : quiet + 1;
    if (!body.finished || quiet < 3) setTimeout(poll, 1000);
  };
  setTimeout(poll, 1000);
})();
