// Kizuna device app: the page. It talks only to the local `kizuna app`
// process (same origin), which holds the keys. No framework, no network
// beyond that origin. Everything shown that came from the API (names,
// handles, message texts) is untrusted and is only ever set as textContent.
'use strict';

(() => {
  // ---------------------------------------------------------------------
  // Test hooks
  // ---------------------------------------------------------------------
  const hooks = {
    renderedRows: () => document.querySelectorAll('[data-test="message"]').length,
    firstRenderMs: null,
  };
  window.__kizuna = hooks;

  // ---------------------------------------------------------------------
  // Strings
  // ---------------------------------------------------------------------
  const STRINGS = {
    en: {
      appName: 'Kizuna',
      language: 'Language',
      chats: 'Chats',
      newChat: 'New chat',
      newChatTitle: 'Start a new chat',
      handlesLabel: 'Who with (handles, separated by commas)',
      handlesPlaceholder: 'bob, carol',
      nameLabel: 'Chat name (optional)',
      create: 'Start chat',
      cancel: 'Cancel',
      needHandle: 'Enter at least one handle.',
      noChats: 'No chats yet. Start one with “New chat”.',
      chooseChat: 'Choose a chat to read it here.',
      back: 'Back to chats',
      onlyYou: 'Just you',
      you: 'You',
      members: 'Members: {list}',
      unreadCount: '{n} unread',
      messages: 'Messages',
      composerLabel: 'Message',
      composerPlaceholder: 'Message (Enter to send, Shift+Enter for a new line)',
      send: 'Send',
      sending: 'Sending…',
      sendFailed: 'Not sent: {msg}',
      createFailed: 'Could not start the chat: {msg}',
      loadFailed: 'Could not load messages: {msg}',
      today: 'Today',
      yesterday: 'Yesterday',
      unopened: 'This message could not be opened',
      reason: 'Reason: {reason}',
      loading: 'Loading…',
      noMessages: 'No messages yet. Say hello!',
      connecting: 'Connecting…',
      inactive: 'You are no longer a member of this chat.',
      networkError: 'Could not reach the Kizuna app on this device.',
      newMessage: 'New message from {sender}: {text}',
      newMessageIn: 'New message from {sender} in {chat}',
      sessionTitle: 'Session ended',
      sessionEnded: 'This page\'s session ended; open the address `kizuna app` printed again.',
    },
    ja: {
      appName: 'Kizuna',
      language: '言語',
      chats: 'トーク',
      newChat: '新しいトーク',
      newChatTitle: '新しいトークを始める',
      handlesLabel: '相手のハンドル（カンマ区切り）',
      handlesPlaceholder: 'bob, carol',
      nameLabel: 'トーク名（任意）',
      create: 'トークを始める',
      cancel: 'キャンセル',
      needHandle: 'ハンドルを1つ以上入力してください。',
      noChats: 'トークはまだありません。「新しいトーク」から始めましょう。',
      chooseChat: 'トークを選ぶと、ここに表示されます。',
      back: 'トーク一覧に戻る',
      onlyYou: '自分のみ',
      you: '自分',
      members: 'メンバー：{list}',
      unreadCount: '未読 {n} 件',
      messages: 'メッセージ',
      composerLabel: 'メッセージ',
      composerPlaceholder: 'メッセージを入力（Enter で送信、Shift+Enter で改行）',
      send: '送信',
      sending: '送信中…',
      sendFailed: '送信できませんでした：{msg}',
      createFailed: 'トークを始められませんでした：{msg}',
      loadFailed: 'メッセージを読み込めませんでした：{msg}',
      today: '今日',
      yesterday: '昨日',
      unopened: 'このメッセージは開けませんでした',
      reason: '理由：{reason}',
      loading: '読み込み中…',
      noMessages: 'メッセージはまだありません。',
      connecting: '接続中…',
      inactive: 'このトークのメンバーではなくなりました。',
      networkError: 'この端末の Kizuna アプリに接続できません。',
      newMessage: '{sender} さんから新着メッセージ：{text}',
      newMessageIn: '{chat} で {sender} さんから新着メッセージ',
      sessionTitle: 'セッションが終了しました',
      sessionEnded: 'このページのセッションは終了しました。`kizuna app` が表示したアドレスをもう一度開いてください。',
    },
    ko: {
      appName: 'Kizuna',
      language: '언어',
      chats: '채팅',
      newChat: '새 채팅',
      newChatTitle: '새 채팅 시작하기',
      handlesLabel: '대화 상대 핸들 (쉼표로 구분)',
      handlesPlaceholder: 'bob, carol',
      nameLabel: '채팅방 이름 (선택)',
      create: '채팅 시작',
      cancel: '취소',
      needHandle: '핸들을 하나 이상 입력하세요.',
      noChats: '아직 채팅이 없습니다. ‘새 채팅’으로 시작해 보세요.',
      chooseChat: '채팅을 선택하면 여기에 표시됩니다.',
      back: '채팅 목록으로',
      onlyYou: '나만',
      you: '나',
      members: '멤버: {list}',
      unreadCount: '읽지 않은 메시지 {n}개',
      messages: '메시지',
      composerLabel: '메시지',
      composerPlaceholder: '메시지 입력 (Enter로 전송, Shift+Enter로 줄바꿈)',
      send: '전송',
      sending: '전송 중…',
      sendFailed: '전송하지 못했습니다: {msg}',
      createFailed: '채팅을 시작하지 못했습니다: {msg}',
      loadFailed: '메시지를 불러오지 못했습니다: {msg}',
      today: '오늘',
      yesterday: '어제',
      unopened: '이 메시지를 열 수 없습니다',
      reason: '사유: {reason}',
      loading: '불러오는 중…',
      noMessages: '아직 메시지가 없습니다.',
      connecting: '연결 중…',
      inactive: '더 이상 이 채팅의 멤버가 아닙니다.',
      networkError: '이 기기의 Kizuna 앱에 연결할 수 없습니다.',
      newMessage: '{sender}님의 새 메시지: {text}',
      newMessageIn: '{chat}에서 {sender}님의 새 메시지',
      sessionTitle: '세션이 종료되었습니다',
      sessionEnded: '이 페이지의 세션이 종료되었습니다. `kizuna app`이 출력한 주소를 다시 여세요.',
    },
  };
  const LANGS = [['en', 'English'], ['ja', '日本語'], ['ko', '한국어']];
  const LANG_KEY = 'kizuna.lang';

  function detectLang() {
    try {
      const saved = localStorage.getItem(LANG_KEY);
      if (saved && STRINGS[saved]) return saved;
    } catch (_) { /* storage may be unavailable */ }
    const prefs = (navigator.languages && navigator.languages.length)
      ? navigator.languages : [navigator.language || 'en'];
    for (const p of prefs) {
      const l = String(p).toLowerCase();
      if (l.startsWith('ja')) return 'ja';
      if (l.startsWith('ko')) return 'ko';
      if (l.startsWith('en')) return 'en';
    }
    return 'en';
  }

  let lang = detectLang();
  let fmt = null;

  function t(key, vars) {
    let s = (STRINGS[lang] && STRINGS[lang][key]) || STRINGS.en[key] || key;
    if (vars) s = s.replace(/\{(\w+)\}/g, (m, k) => (k in vars ? String(vars[k]) : m));
    return s;
  }

  function makeFormatters() {
    const f = (o) => new Intl.DateTimeFormat(lang, o);
    fmt = {
      time: f({ hour: 'numeric', minute: '2-digit' }),
      monthDay: f({ month: 'short', day: 'numeric' }),
      fullDate: f({ year: 'numeric', month: 'short', day: 'numeric' }),
      day: f({ weekday: 'short', month: 'long', day: 'numeric' }),
      dayYear: f({ weekday: 'short', year: 'numeric', month: 'long', day: 'numeric' }),
      iso: (ms) => new Date(ms).toISOString(),
    };
  }

  // Local calendar day number, for "today" / "yesterday" / separators.
  function dayNumber(ms) {
    const d = new Date(ms);
    return Math.floor(Date.UTC(d.getFullYear(), d.getMonth(), d.getDate()) / 86400000);
  }
  function todayNumber() { return dayNumber(Date.now()); }

  function listTime(ms) {
    const d = dayNumber(ms), today = todayNumber();
    if (d === today) return fmt.time.format(ms);
    if (d === today - 1) return t('yesterday');
    if (new Date(ms).getFullYear() === new Date().getFullYear()) return fmt.monthDay.format(ms);
    return fmt.fullDate.format(ms);
  }
  function dayLabel(ms) {
    const d = dayNumber(ms), today = todayNumber();
    if (d === today) return t('today');
    if (d === today - 1) return t('yesterday');
    if (new Date(ms).getFullYear() === new Date().getFullYear()) return fmt.day.format(ms);
    return fmt.dayYear.format(ms);
  }

  // ---------------------------------------------------------------------
  // DOM helpers (no innerHTML anywhere)
  // ---------------------------------------------------------------------
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    if (attrs) {
      for (const [k, v] of Object.entries(attrs)) {
        if (v === null || v === undefined || v === false) continue;
        if (k === 'class') el.className = v;
        else if (k === 'text') el.textContent = v;
        else if (k === 'i18n') { el.dataset.i18n = v; el.textContent = t(v); }
        else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
        else if (v === true) el.setAttribute(k, '');
        else el.setAttribute(k, String(v));
      }
    }
    for (const c of children) {
      if (c === null || c === undefined || c === false) continue;
      el.append(typeof c === 'string' ? document.createTextNode(c) : c);
    }
    return el;
  }
  // Attributes translated on language change: "attr:key;attr:key".
  function i18nAttrs(el, spec) {
    el.dataset.i18nAttr = spec;
    applyAttrs(el);
    return el;
  }
  function applyAttrs(el) {
    for (const part of el.dataset.i18nAttr.split(';')) {
      const [attr, key] = part.split(':');
      el.setAttribute(attr, t(key));
    }
  }
  // Text with `code` spans, built from nodes.
  function withCode(s) {
    const frag = document.createDocumentFragment();
    s.split('`').forEach((part, i) => {
      if (part) frag.append(i % 2 ? h('code', { text: part }) : document.createTextNode(part));
    });
    return frag;
  }
  function truncate(s, n) {
    s = String(s || '').replace(/\s+/g, ' ').trim();
    return s.length > n ? s.slice(0, n - 1) + '…' : s;
  }
  function isNarrow() { return window.matchMedia('(max-width: 420px)').matches; }
  function windowActive() { return document.visibilityState === 'visible' && document.hasFocus(); }

  // ---------------------------------------------------------------------
  // API
  // ---------------------------------------------------------------------
  class ApiError extends Error {
    constructor(code, message, status) { super(message); this.code = code; this.status = status; }
  }
  let sessionOver = false;

  async function api(method, path, body) {
    if (sessionOver) throw new ApiError('no_session', t('sessionEnded'), 401);
    const init = { method, credentials: 'same-origin', cache: 'no-store', headers: { Accept: 'application/json' } };
    if (body !== undefined) {
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    let res;
    try {
      res = await fetch(path, init);
    } catch (_) {
      throw new ApiError('network', t('networkError'), 0);
    }
    if (res.status === 401) {
      endSession();
      throw new ApiError('no_session', t('sessionEnded'), 401);
    }
    let data = null;
    const text = await res.text().catch(() => '');
    if (text) { try { data = JSON.parse(text); } catch (_) { data = null; } }
    if (!res.ok) {
      const msg = (data && typeof data.message === 'string' && data.message) || `HTTP ${res.status}`;
      throw new ApiError((data && data.code) || `http_${res.status}`, msg, res.status);
    }
    return data;
  }
  const chatPath = (chat, rest) => `/api/chats/${encodeURIComponent(chat)}${rest || ''}`;

  // ---------------------------------------------------------------------
  // State
  // ---------------------------------------------------------------------
  let me = null;            // {handle, ...}
  let chats = [];           // as GET /api/chats gives them
  let chatsLoaded = false;
  let conv = null;          // the open conversation, see openChat
  let pendingId = 0;
  let nodeConnected = true; // from `status` events
  let localDown = false;    // the EventSource to this page's own server is down
  let es = null;

  // ---------------------------------------------------------------------
  // Layout
  // ---------------------------------------------------------------------
  const root = document.getElementById('app') || document.body.appendChild(h('div', { id: 'app', class: 'app' }));

  const langSelect = h('select', { id: 'lang-select', 'data-test': 'lang-select' },
    ...LANGS.map(([code, label]) => h('option', { value: code, lang: code, text: label })));
  const statusBanner = h('div', { class: 'status-banner', 'data-test': 'status-banner', role: 'status', hidden: true, i18n: 'connecting' });
  const meLabel = h('span', { class: 'me', 'data-test': 'me' });

  const header = h('header', { class: 'topbar' },
    h('h1', { class: 'brand', i18n: 'appName' }),
    meLabel,
    statusBanner,
    h('div', { class: 'spacer' }),
    h('label', { class: 'vh', for: 'lang-select', i18n: 'language' }),
    langSelect);

  // Sidebar: chat list and new-chat form.
  const newChatBtn = h('button', { type: 'button', class: 'btn', 'data-test': 'new-chat', 'aria-expanded': 'false', 'aria-controls': 'new-chat-form', i18n: 'newChat' });
  const ncHandles = h('input', { id: 'nc-handles', type: 'text', 'data-test': 'new-chat-handles', autocomplete: 'off', autocapitalize: 'none', spellcheck: 'false', required: true });
  i18nAttrs(ncHandles, 'placeholder:handlesPlaceholder');
  const ncName = h('input', { id: 'nc-name', type: 'text', 'data-test': 'new-chat-name', autocomplete: 'off', maxlength: '100' });
  const ncError = h('div', { class: 'error', 'data-test': 'error', role: 'alert' });
  const ncSubmit = h('button', { type: 'submit', class: 'btn', 'data-test': 'new-chat-submit', i18n: 'create' });
  const ncCancel = h('button', { type: 'button', class: 'btn secondary', i18n: 'cancel' });
  const newChatForm = h('form', { id: 'new-chat-form', class: 'new-chat', hidden: true, 'aria-labelledby': 'nc-title', novalidate: true },
    h('h3', { id: 'nc-title', class: 'vh', i18n: 'newChatTitle' }),
    h('label', { for: 'nc-handles', i18n: 'handlesLabel' }), ncHandles,
    h('label', { for: 'nc-name', i18n: 'nameLabel' }), ncName,
    ncError,
    h('div', { class: 'actions' }, ncCancel, ncSubmit));
  const chatList = h('ul', { class: 'chat-list', 'data-test': 'chat-list', 'aria-labelledby': 'chats-heading' });
  const noChats = h('p', { class: 'empty', hidden: true, i18n: 'noChats' });
  const sidebar = h('nav', { class: 'sidebar', 'aria-labelledby': 'chats-heading' },
    h('div', { class: 'sidebar-head' }, h('h2', { id: 'chats-heading', i18n: 'chats' }), newChatBtn),
    newChatForm, chatList, noChats);

  // Conversation pane.
  const backBtn = h('button', { type: 'button', class: 'back btn secondary', 'data-test': 'back' },
    h('span', { 'aria-hidden': 'true', text: '‹' }), h('span', { class: 'vh', i18n: 'back' }));
  i18nAttrs(backBtn, 'title:back');
  const convTitle = h('h2', { id: 'conv-title', class: 'conv-title', tabindex: '-1' });
  const convMembers = h('p', { class: 'conv-members' });
  const canvas = h('div', { class: 'canvas', role: 'list' });
  const scroller = h('div', { class: 'scroller', tabindex: '0', role: 'region' }, canvas);
  i18nAttrs(scroller, 'aria-label:messages');
  const convStatus = h('p', { class: 'conv-status' });
  const composer = h('textarea', { id: 'composer', 'data-test': 'composer', rows: '1' });
  i18nAttrs(composer, 'placeholder:composerPlaceholder');
  const sendBtn = h('button', { type: 'submit', class: 'btn send', i18n: 'send' });
  const composerForm = h('form', { class: 'composer' },
    h('label', { for: 'composer', class: 'vh', i18n: 'composerLabel' }), composer, sendBtn);
  const convError = h('div', { class: 'error', 'data-test': 'error', role: 'alert' });
  const inactiveNote = h('p', { class: 'inactive', hidden: true, i18n: 'inactive' });
  const convMain = h('div', { class: 'conv-main', hidden: true },
    h('header', { class: 'conv-head' }, backBtn, h('div', { class: 'conv-head-text' }, convTitle, convMembers)),
    scroller, convStatus, inactiveNote, convError, composerForm);
  const convEmpty = h('p', { class: 'conv-empty', i18n: 'chooseChat' });
  const convSection = h('main', { class: 'conv', 'data-test': 'conversation', 'aria-labelledby': 'conv-title' }, convEmpty, convMain);

  const layout = h('div', { class: 'layout show-list' }, sidebar, convSection);
  const live = h('div', { class: 'vh', 'aria-live': 'polite', 'aria-atomic': 'true', 'data-test': 'live' });
  const sessionNotice = h('div', { class: 'session-ended', hidden: true, role: 'alert', 'data-test': 'session-ended' });

  root.append(header, layout, live, sessionNotice);

  // ---------------------------------------------------------------------
  // Language
  // ---------------------------------------------------------------------
  function applyLang() {
    document.documentElement.lang = lang;
    langSelect.value = lang;
    makeFormatters();
    for (const el of document.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
    for (const el of document.querySelectorAll('[data-i18n-attr]')) applyAttrs(el);
    if (sessionOver) renderSessionNotice();
    updateTitle();
  }
  langSelect.addEventListener('change', () => {
    if (!STRINGS[langSelect.value]) return;
    lang = langSelect.value;
    try { localStorage.setItem(LANG_KEY, lang); } catch (_) { /* ignore */ }
    applyLang();
    renderChatList();
    if (conv) { renderConvHeader(); vlist.reset(); }
  });

  // ---------------------------------------------------------------------
  // Session end (401)
  // ---------------------------------------------------------------------
  function renderSessionNotice() {
    sessionNotice.replaceChildren(h('div', { class: 'card' },
      h('h1', { text: t('sessionTitle') }),
      h('p', {}, withCode(t('sessionEnded')))));
  }
  function endSession() {
    if (sessionOver) return;
    sessionOver = true;
    if (es) { es.close(); es = null; }
    header.hidden = true;
    layout.hidden = true;
    renderSessionNotice();
    sessionNotice.hidden = false;
  }

  // ---------------------------------------------------------------------
  // Status banner
  // ---------------------------------------------------------------------
  function updateBanner() { statusBanner.hidden = nodeConnected && !localDown; }

  // ---------------------------------------------------------------------
  // Chat list
  // ---------------------------------------------------------------------
  function chatTitle(c) {
    if (c.name) return c.name;
    const m = Array.isArray(c.members) ? c.members : [];
    return m.length ? m.join(', ') : t('onlyYou');
  }
  function avatarColor(id) {
    let x = 0;
    for (const ch of String(id)) x = (x * 31 + ch.charCodeAt(0)) >>> 0;
    return `hsl(${x % 360} 38% 48%)`;
  }
  function shownUnread(c) {
    // While this page is marking the open chat read, don't flash a badge.
    if (conv && conv.chat === c.chat && (conv.readInFlight || conv.loading) && windowActive()) return 0;
    return Number(c.unread) || 0;
  }

  // Chat list items are kept per chat (keyed), so a refresh arriving between
  // a press and its release doesn't swallow the click.
  const chatItems = new Map(); // chat id -> <li>

  function renderChatList() {
    const focusedChat = document.activeElement && document.activeElement.dataset
      ? document.activeElement.dataset.chat : undefined;
    const seen = new Set();
    let prev = null;
    for (const c of chats) {
      if (!c || typeof c.chat !== 'string' || seen.has(c.chat)) continue;
      seen.add(c.chat);
      const title = chatTitle(c);
      const unread = shownUnread(c);
      let lastText = '';
      if (c.last) {
        const text = c.last.text == null ? t('unopened') : c.last.text;
        const who = me && c.last.sender === me.handle ? t('you')
          : ((c.members || []).length > 1 ? c.last.sender : '');
        lastText = (who ? who + ': ' : '') + truncate(text, 80);
      }
      let li = chatItems.get(c.chat);
      if (!li) {
        const btn = h('button', { type: 'button', class: 'chat-item', 'data-test': 'chat-item', 'data-chat': c.chat });
        const id = c.chat;
        btn.addEventListener('click', () => openChat(id, { user: true }));
        li = h('li', {}, btn);
        chatItems.set(c.chat, li);
      }
      const btn = li.firstChild;
      const avatar = h('span', { class: 'avatar', 'aria-hidden': 'true', text: Array.from(title)[0] || '?' });
      avatar.style.background = avatarColor(c.chat);
      btn.replaceChildren(...[
        avatar,
        h('span', { class: 'chat-name', text: title }),
        h('span', { class: 'chat-time', text: c.last ? listTime(c.last.server_time) : '' }),
        h('span', { class: 'chat-last', 'data-test': 'chat-last', text: lastText }),
        unread > 0 ? h('span', { class: 'badge', 'data-test': 'unread-badge', 'aria-hidden': 'true', text: unread > 999 ? '999+' : String(unread) }) : null,
        unread > 0 ? h('span', { class: 'vh', text: ' ' + t('unreadCount', { n: unread }) }) : null,
      ].filter(Boolean));
      if (conv && conv.chat === c.chat) btn.setAttribute('aria-current', 'true');
      else btn.removeAttribute('aria-current');
      const next = prev ? prev.nextSibling : chatList.firstChild;
      if (next !== li) chatList.insertBefore(li, next);
      prev = li;
    }
    for (const [id, li] of chatItems) {
      if (!seen.has(id)) { li.remove(); chatItems.delete(id); }
    }
    noChats.hidden = !chatsLoaded || chats.length > 0;
    if (focusedChat !== undefined && document.activeElement === document.body) {
      const again = chatItems.get(focusedChat);
      if (again) again.firstChild.focus();
    }
    updateTitle();
  }

  function updateTitle() {
    const total = chats.reduce((n, c) => n + shownUnread(c), 0);
    document.title = (total > 0 ? `(${total}) ` : '') + t('appName');
  }

  let chatsInFlight = null;
  let chatsAgain = false;
  function refreshChats() {
    if (chatsInFlight) { chatsAgain = true; return chatsInFlight; }
    chatsInFlight = (async () => {
      try {
        do {
          chatsAgain = false;
          const list = await api('GET', '/api/chats');
          chats = Array.isArray(list) ? list : [];
          chatsLoaded = true;
          renderChatList();
          chatList.dataset.loaded = 'true';
          if (hooks.firstRenderMs === null) hooks.firstRenderMs = performance.now();
          if (conv) renderConvHeader();
        } while (chatsAgain);
      } catch (e) {
        if (e.status !== 401) console.warn('kizuna: chats', e.message);
      } finally {
        chatsInFlight = null;
      }
    })();
    return chatsInFlight;
  }

  // ---------------------------------------------------------------------
  // New chat form
  // ---------------------------------------------------------------------
  function openNewChat() {
    newChatForm.hidden = false;
    newChatBtn.setAttribute('aria-expanded', 'true');
    ncError.textContent = '';
    ncHandles.focus();
  }
  function closeNewChat(refocus) {
    newChatForm.hidden = true;
    newChatBtn.setAttribute('aria-expanded', 'false');
    ncError.textContent = '';
    if (refocus) newChatBtn.focus();
  }
  newChatBtn.addEventListener('click', () => (newChatForm.hidden ? openNewChat() : closeNewChat(true)));
  ncCancel.addEventListener('click', () => closeNewChat(true));
  newChatForm.addEventListener('keydown', (e) => {
    if (e.key === 'Escape') { e.preventDefault(); closeNewChat(true); }
  });
  newChatForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    const handles = ncHandles.value.split(/[\s,，、]+/).map((s) => s.replace(/^@/, '').trim()).filter(Boolean);
    const unique = [...new Set(handles)];
    if (!unique.length) { ncError.textContent = t('needHandle'); ncHandles.focus(); return; }
    const name = ncName.value.trim();
    ncSubmit.disabled = true;
    ncError.textContent = '';
    try {
      const r = await api('POST', '/api/chats', { with: unique, name: name || null });
      ncHandles.value = '';
      ncName.value = '';
      closeNewChat(false);
      await refreshChats();
      if (r && r.chat) openChat(r.chat, { user: true });
    } catch (err) {
      if (err.status !== 401) ncError.textContent = t('createFailed', { msg: err.message });
    } finally {
      ncSubmit.disabled = false;
    }
  });

  // ---------------------------------------------------------------------
  // Virtualised message list
  // ---------------------------------------------------------------------
  // Rows are absolutely positioned inside `canvas`, whose height is the sum
  // of every row's height: measured for rows that have been rendered at the
  // current width, estimated for the rest. Only the rows within the viewport
  // plus OVERSCAN either side are in the DOM.
  const OVERSCAN = 6;
  const PAD = 8;

  class VirtualList {
    constructor(scrollEl, canvasEl, opts) {
      this.scroller = scrollEl;
      this.canvas = canvasEl;
      this.opts = opts;
      this.items = [];
      this.keys = [];
      this.measured = new Map();   // key -> measured px
      this.estimated = new Map();  // key -> estimated px
      this.offsets = new Float64Array(1);
      this.total = 0;
      this.base = 0;               // bottom-aligns a short conversation
      this.rendered = new Map();   // key -> element
      this.stick = true;           // keep the bottom in view
      this.lastTop = 0;            // scrollTop when last seen or set
      this.busy = false;
      this.width = 0;
      this.height = 0;
      scrollEl.addEventListener('scroll', () => this.onScroll(), { passive: true });
      if (typeof ResizeObserver === 'function') {
        new ResizeObserver(() => this.onResize()).observe(scrollEl);
      } else {
        window.addEventListener('resize', () => this.onResize());
      }
    }

    setItems(items) {
      this.items = items;
      this.keys = items.map((_, i) => this.opts.keyOf(items, i));
      this.layout();
    }

    // Drop every row and measurement (language or width changed).
    reset() {
      for (const el of this.rendered.values()) el.remove();
      this.rendered.clear();
      this.measured.clear();
      this.estimated.clear();
      this.layout();
      this.render();
    }

    heightOf(i) {
      const k = this.keys[i];
      let v = this.measured.get(k);
      if (v !== undefined) return v;
      v = this.estimated.get(k);
      if (v === undefined) {
        v = this.opts.estimate(this.items, i, this.width);
        this.estimated.set(k, v);
      }
      return v;
    }

    layout() {
      const n = this.items.length;
      const off = new Float64Array(n + 1);
      let y = 0;
      for (let i = 0; i < n; i++) { off[i] = y; y += this.heightOf(i); }
      off[n] = y;
      this.offsets = off;
      this.total = y;
      const vh = this.scroller.clientHeight;
      const content = this.total + 2 * PAD;
      this.base = Math.max(0, vh - content);
      this.canvas.style.height = Math.max(content, vh) + 'px';
    }

    // Index of the row covering content position y (clamped).
    indexAt(y) {
      const off = this.offsets, n = this.items.length;
      if (n === 0) return 0;
      let lo = 0, hi = n - 1;
      while (lo < hi) {
        const mid = (lo + hi + 1) >> 1;
        if (off[mid] <= y) lo = mid; else hi = mid - 1;
      }
      return lo;
    }

    maxScroll() { return Math.max(0, this.scroller.scrollHeight - this.scroller.clientHeight); }

    atBottom() {
      const s = this.scroller;
      return s.scrollTop + s.clientHeight >= s.scrollHeight - 24;
    }

    scrollToBottom() {
      this.stick = true;
      this.render();
    }

    onScroll() {
      if (this.busy) return;
      const st = this.scroller.scrollTop;
      // Only the reader moving up unsticks the bottom: a scroll event that
      // merely reports our own jump to the bottom, seen after the viewport
      // shrank (an error line, a taller composer), must not.
      if (st < this.lastTop - 1 || !this.stick) this.stick = this.atBottom();
      this.lastTop = st;
      this.render();
    }

    onResize() {
      const w = this.scroller.clientWidth, hgt = this.scroller.clientHeight;
      if (w !== this.width) {
        this.width = w;
        this.measured.clear();
        this.estimated.clear();
      }
      this.height = hgt;
      this.layout();
      this.render();
    }

    render() {
      if (this.busy) return;
      this.busy = true;
      try {
        const s = this.scroller;
        if (!this.width) this.width = s.clientWidth;
        const n = this.items.length;
        for (let pass = 0; pass < 4; pass++) {
          if (this.stick) s.scrollTop = this.maxScroll();
          const vh = s.clientHeight;
          const y0 = s.scrollTop - this.base - PAD;
          const y1 = y0 + vh;
          if (n === 0) {
            for (const el of this.rendered.values()) el.remove();
            this.rendered.clear();
            break;
          }
          const anchor = this.indexAt(Math.max(0, y0));
          const anchorKey = this.keys[anchor];
          const anchorDelta = y0 - this.offsets[anchor];
          const first = Math.max(0, this.indexAt(y0) - OVERSCAN);
          const last = Math.min(n - 1, this.indexAt(y1) + OVERSCAN);

          const want = new Set();
          for (let i = first; i <= last; i++) want.add(this.keys[i]);
          for (const [k, el] of this.rendered) {
            if (!want.has(k)) { el.remove(); this.rendered.delete(k); }
          }
          let prev = null;
          for (let i = first; i <= last; i++) {
            const k = this.keys[i];
            let el = this.rendered.get(k);
            if (!el) {
              el = this.opts.renderRow(this.items, i);
              this.rendered.set(k, el);
            }
            el.setAttribute('aria-posinset', String(i + 1));
            el.setAttribute('aria-setsize', String(n));
            el.style.transform = `translateY(${this.base + PAD + this.offsets[i]}px)`;
            // Keep DOM order = visual order (for assistive technology).
            const next = prev ? prev.nextSibling : this.canvas.firstChild;
            if (next !== el) this.canvas.insertBefore(el, next);
            prev = el;
          }
          // Measure.
          let changed = false;
          for (let i = first; i <= last; i++) {
            const k = this.keys[i];
            const hgt = this.rendered.get(k).offsetHeight;
            if (hgt > 0 && this.measured.get(k) !== hgt) { this.measured.set(k, hgt); changed = true; }
          }
          if (!changed) break;
          this.layout();
          for (let i = first; i <= last; i++) {
            this.rendered.get(this.keys[i]).style.transform = `translateY(${this.base + PAD + this.offsets[i]}px)`;
          }
          if (!this.stick) {
            // Keep the row at the top of the viewport where it was.
            const a = this.keys[anchor] === anchorKey ? anchor : this.keys.indexOf(anchorKey);
            if (a >= 0) {
              const target = this.offsets[a] + anchorDelta + this.base + PAD;
              if (Math.abs(target - s.scrollTop) >= 1) s.scrollTop = target;
            }
          }
        }
      } finally {
        this.lastTop = this.scroller.scrollTop;
        this.busy = false;
      }
    }
  }

  // Rough height of a row before it is measured.
  function estimateRow(items, i, width) {
    const m = items[i];
    const info = rowInfo(items, i);
    const bubbleW = Math.max(120, Math.min(560, (width || 600) * (isNarrow() ? 0.8 : 0.7)) - 24);
    const text = m.unopened != null ? t('unopened') + '\n' + t('reason', { reason: m.unopened }) : String(m.text || '');
    let lines = 0;
    for (const para of text.split('\n')) {
      let w = 0;
      for (let j = 0; j < para.length; j++) w += para.charCodeAt(j) > 0x2e80 ? 15 : 7.6;
      lines += Math.max(1, Math.ceil(w / bubbleW));
    }
    return 6 + 16 + lines * 21 + (info.sender ? 19 : 0) + (info.sep ? 38 : 0);
  }

  function dayOf(m) {
    if (m._day === undefined) m._day = dayNumber(m.server_time || 0);
    return m._day;
  }
  function rowInfo(items, i) {
    const m = items[i], p = i > 0 ? items[i - 1] : null;
    const sep = !p || dayOf(p) !== dayOf(m);
    const sender = !m.mine && (sep || !p || p.mine || p.sender !== m.sender);
    return { sep, sender };
  }
  function rowKey(items, i) {
    const m = items[i];
    const info = rowInfo(items, i);
    const id = m.pending ? 'p' + m.pendingId : 's' + m.seq;
    return id + (info.sep ? '|d' : '') + (info.sender ? '|n' : '');
  }

  function renderRow(items, i) {
    const m = items[i];
    const info = rowInfo(items, i);
    const cls = ['row', m.mine ? 'mine' : 'theirs'];
    if (m.pending) cls.push('pending');
    const row = h('div', { class: cls.join(' '), 'data-test': 'message', role: 'listitem', 'data-seq': m.pending ? false : String(m.seq) });
    if (m.pending) row.dataset.pending = 'true';
    if (info.sep) row.append(h('div', { class: 'day-sep' }, h('span', { text: dayLabel(m.server_time) })));
    if (!m.mine && info.sender) {
      row.append(h('div', { class: 'sender', 'data-test': 'message-sender', text: m.sender }));
    }
    const bubble = h('div', { class: 'bubble' });
    // Screen readers hear who wrote each message even when it isn't shown.
    if (m.mine) bubble.append(h('span', { class: 'vh', text: t('you') + ': ' }));
    else if (!info.sender) bubble.append(h('span', { class: 'vh', text: m.sender + ': ' }));
    if (m.unopened != null) {
      bubble.classList.add('unopened');
      bubble.append(
        h('span', { class: 'text', 'data-test': 'message-text', text: t('unopened') }),
        h('span', { class: 'reason', 'data-test': 'message-reason', text: t('reason', { reason: m.unopened }) }));
    } else {
      bubble.append(h('span', { class: 'text', 'data-test': 'message-text', text: String(m.text == null ? '' : m.text) }));
    }
    const time = m.pending
      ? h('span', { class: 'time', text: t('sending') })
      : h('time', { class: 'time', datetime: fmt.iso(m.server_time || 0), text: fmt.time.format(m.server_time || 0) });
    row.append(h('div', { class: 'line' }, bubble, time));
    return row;
  }

  const vlist = new VirtualList(scroller, canvas, { keyOf: rowKey, estimate: estimateRow, renderRow });

  // ---------------------------------------------------------------------
  // Conversation
  // ---------------------------------------------------------------------
  function setView(which) {
    layout.classList.toggle('show-list', which === 'list');
    layout.classList.toggle('show-conv', which === 'conv');
  }

  function currentChat() { return conv ? chats.find((c) => c.chat === conv.chat) : null; }

  function renderConvHeader() {
    if (!conv) return;
    const c = currentChat();
    convTitle.textContent = c ? chatTitle(c) : '';
    const members = c && Array.isArray(c.members) ? c.members : [];
    convMembers.textContent = members.length ? t('members', { list: members.join(', ') }) : '';
    const active = !c || c.active !== false;
    inactiveNote.hidden = active;
    composerForm.hidden = !active;
    for (const b of chatList.querySelectorAll('[data-test="chat-item"]')) {
      if (b.dataset.chat === conv.chat) b.setAttribute('aria-current', 'true');
      else b.removeAttribute('aria-current');
    }
  }

  function lastSeq(cv) {
    return cv.confirmed.length ? cv.confirmed[cv.confirmed.length - 1].seq : null;
  }

  function syncItems(cv) {
    if (cv !== conv) return;
    vlist.setItems(cv.confirmed.concat(cv.pending));
    const stick = vlist.stick || vlist.atBottom();
    vlist.stick = stick;
    vlist.render();
    convStatus.textContent = cv.loading ? t('loading') : (cv.confirmed.length || cv.pending.length ? '' : t('noMessages'));
    convStatus.hidden = !convStatus.textContent;
  }

  // Merges messages (any order) into the conversation's seq-ordered list.
  function addMessages(cv, msgs) {
    let added = false;
    for (const m of msgs) {
      if (!m || typeof m.seq !== 'number' || cv.seqs.has(m.seq)) continue;
      if (m.mine) {
        // Our own message arriving by another path before the POST answered.
        const j = cv.pending.findIndex((p) => p.text === m.text && !p.claimed);
        if (j >= 0) { cv.pending[j].claimed = true; cv.pending.splice(j, 1); }
      }
      cv.seqs.add(m.seq);
      const list = cv.confirmed;
      if (!list.length || list[list.length - 1].seq < m.seq) list.push(m);
      else {
        let lo = 0, hi = list.length;
        while (lo < hi) { const mid = (lo + hi) >> 1; if (list[mid].seq < m.seq) lo = mid + 1; else hi = mid; }
        list.splice(lo, 0, m);
      }
      added = true;
    }
    return added;
  }

  async function markRead(cv) {
    if (!cv || cv !== conv || cv.loading) return;
    const seq = lastSeq(cv);
    if (seq === null || seq <= cv.readSeq) return;
    cv.readSeq = seq;
    cv.readInFlight = (cv.readInFlight || 0) + 1;
    try {
      const r = await api('POST', chatPath(cv.chat, '/read'), { seq });
      const c = chats.find((x) => x.chat === cv.chat);
      if (c && r && typeof r.unread === 'number') c.unread = r.unread;
    } catch (e) {
      if (e.status !== 401) { cv.readSeq = -1; console.warn('kizuna: read', e.message); }
    } finally {
      cv.readInFlight -= 1;
      renderChatList();
    }
  }

  async function openChat(chat, { user = false } = {}) {
    if (sessionOver) return;
    if (conv && conv.chat === chat) {
      setView('conv');
      if (user) focusConversation();
      return;
    }
    const cv = {
      chat, confirmed: [], pending: [], seqs: new Set(), queue: [],
      loading: true, readSeq: -1, readInFlight: 0,
    };
    conv = cv;
    convSection.dataset.openChat = chat;
    delete convSection.dataset.loaded;
    convEmpty.hidden = true;
    convMain.hidden = false;
    convError.textContent = '';
    composer.value = '';
    autosize();
    setView('conv');
    renderConvHeader();
    try { history.replaceState(null, '', '#' + encodeURIComponent(chat)); } catch (_) { /* ignore */ }
    vlist.stick = true;
    vlist.setItems([]);
    vlist.reset();
    syncItems(cv);
    if (user) focusConversation();
    try {
      const r = await api('GET', chatPath(chat, '/messages'));
      if (cv !== conv) return;
      addMessages(cv, (r && Array.isArray(r.messages)) ? r.messages : []);
    } catch (e) {
      if (cv !== conv) return;
      if (e.status !== 401) convError.textContent = t('loadFailed', { msg: e.message });
    }
    addMessages(cv, cv.queue);
    cv.queue = [];
    cv.loading = false;
    vlist.stick = true;
    syncItems(cv);
    convSection.dataset.loaded = chat;
    if (windowActive()) await markRead(cv);
    else renderChatList();
  }

  function focusConversation() {
    if (isNarrow() || composerForm.hidden) convTitle.focus();
    else composer.focus();
  }

  function closeChat() {
    const was = conv ? conv.chat : null;
    conv = null;
    delete convSection.dataset.openChat;
    delete convSection.dataset.loaded;
    convMain.hidden = true;
    convEmpty.hidden = false;
    vlist.setItems([]);
    vlist.reset();
    setView('list');
    try { history.replaceState(null, '', location.pathname + location.search); } catch (_) { /* ignore */ }
    renderChatList();
    if (was) {
      const b = chatList.querySelector(`[data-chat="${CSS.escape(was)}"]`);
      if (b) b.focus();
    }
  }
  backBtn.addEventListener('click', closeChat);

  // Re-reads the open conversation (after the event stream was down).
  async function resyncConversation() {
    const cv = conv;
    if (!cv || cv.loading) return;
    try {
      const r = await api('GET', chatPath(cv.chat, '/messages'));
      if (cv !== conv) return;
      if (addMessages(cv, (r && r.messages) || [])) syncItems(cv);
      if (windowActive()) markRead(cv);
    } catch (_) { /* the banner already says so */ }
  }

  // Composer -------------------------------------------------------------
  function autosize() {
    composer.style.height = 'auto';
    composer.style.height = Math.min(composer.scrollHeight + 2, 160) + 'px';
  }
  composer.addEventListener('input', () => { autosize(); if (convError.textContent) convError.textContent = ''; });
  composer.addEventListener('keydown', (e) => {
    if (e.key !== 'Enter' || e.shiftKey || e.altKey) return;
    if (e.isComposing || e.keyCode === 229) return; // IME conversion (ja/ko)
    e.preventDefault();
    send();
  });
  composerForm.addEventListener('submit', (e) => { e.preventDefault(); send(); });

  async function send() {
    const cv = conv;
    if (!cv) return;
    const text = composer.value;
    if (!text.trim()) return;
    composer.value = '';
    autosize();
    convError.textContent = '';
    const p = {
      pending: true, pendingId: ++pendingId, text, mine: true,
      sender: me ? me.handle : '', server_time: Date.now(), unopened: null,
    };
    cv.pending.push(p);
    vlist.stick = true;
    syncItems(cv);
    try {
      const msg = await api('POST', chatPath(cv.chat, '/messages'), { text });
      const j = cv.pending.indexOf(p);
      if (j >= 0) cv.pending.splice(j, 1);
      if (msg && typeof msg.seq === 'number') {
        if (msg.mine === undefined) msg.mine = true;
        addMessages(cv, [msg]);
        // The server marks its own message read; don't ask again.
        if (msg.seq > cv.readSeq && cv.confirmed.length && lastSeq(cv) === msg.seq) cv.readSeq = msg.seq;
      }
      syncItems(cv);
    } catch (e) {
      const j = cv.pending.indexOf(p);
      if (j >= 0) cv.pending.splice(j, 1);
      syncItems(cv);
      if (e.status === 401) return;
      if (cv === conv) {
        if (!composer.value) { composer.value = text; autosize(); }
        convError.textContent = t('sendFailed', { msg: e.message });
      }
    }
    refreshChats();
  }

  // ---------------------------------------------------------------------
  // Live events
  // ---------------------------------------------------------------------
  let announceTimer = 0;
  function announce(text) {
    clearTimeout(announceTimer);
    live.textContent = '';
    announceTimer = setTimeout(() => { live.textContent = text; }, 50);
  }

  function onMessageEvent(data) {
    if (!data || !data.chat || !data.message) return;
    const m = data.message;
    let read = Promise.resolve();
    if (conv && conv.chat === data.chat) {
      if (conv.loading) conv.queue.push(m);
      else if (addMessages(conv, [m])) {
        syncItems(conv);
        if (windowActive()) read = markRead(conv);
      }
    }
    if (!m.mine) {
      const text = m.unopened != null ? t('unopened') : truncate(m.text, 140);
      if (conv && conv.chat === data.chat) announce(t('newMessage', { sender: m.sender, text }));
      else {
        const c = chats.find((x) => x.chat === data.chat);
        announce(t('newMessageIn', { sender: m.sender, chat: c ? chatTitle(c) : '' }));
      }
    }
    read.finally(refreshChats);
  }

  let lastSessionCheck = 0;
  function checkSession() {
    const now = Date.now();
    if (now - lastSessionCheck < 5000) return;
    lastSessionCheck = now;
    api('GET', '/api/me').then(() => {}, () => {});
  }

  function connectEvents() {
    if (sessionOver || typeof EventSource !== 'function') return;
    let hadError = false;
    const source = new EventSource('/api/events');
    es = source;
    source.addEventListener('open', () => {
      localDown = false;
      updateBanner();
      if (hadError) {
        hadError = false;
        refreshChats();
        resyncConversation();
      }
    });
    source.addEventListener('error', () => {
      if (es !== source) return;
      hadError = true;
      localDown = true;
      updateBanner();
      checkSession();
      if (source.readyState === EventSource.CLOSED) {
        // The browser gave up (e.g. an HTTP error): try again ourselves.
        source.close();
        setTimeout(() => { if (es === source) connectEvents(); }, 3000);
      }
    });
    const parse = (ev) => { try { return JSON.parse(ev.data); } catch (_) { return null; } };
    source.addEventListener('message', (ev) => onMessageEvent(parse(ev)));
    source.addEventListener('chats', () => refreshChats());
    source.addEventListener('status', (ev) => {
      const d = parse(ev);
      nodeConnected = !(d && d.connected === false);
      updateBanner();
    });
  }

  function onActive() {
    if (conv && !conv.loading && windowActive()) markRead(conv);
  }
  window.addEventListener('focus', onActive);
  document.addEventListener('visibilitychange', onActive);

  // Escape in the conversation on a phone goes back to the list.
  convSection.addEventListener('keydown', (e) => {
    if (e.key === 'Escape' && isNarrow() && conv && e.target !== composer) { e.preventDefault(); closeChat(); }
  });

  // ---------------------------------------------------------------------
  // Start
  // ---------------------------------------------------------------------
  applyLang();
  renderChatList();
  (async () => {
    const meP = api('GET', '/api/me').then((r) => {
      me = r;
      if (me && me.handle) {
        meLabel.textContent = '@' + me.handle;
        document.body.dataset.handle = me.handle;
      }
    }, () => { /* 401 handled; otherwise the list still loads */ });
    connectEvents();
    await refreshChats();
    await meP;
    if (sessionOver) return;
    renderChatList(); // "You:" prefixes need `me`
    const want = decodeURIComponent((location.hash || '').slice(1));
    if (want && chats.some((c) => c.chat === want)) openChat(want);
  })();
})();
