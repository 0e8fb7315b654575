// Date range input on two native <input type="date"> fields. Debian's r-cran-shiny ships a 2014
// bootstrap-datepicker and a misnamed strftime file, so shiny::dateRangeInput breaks in the browser
// ("$(...).datepicker is not a function"); this binding needs neither.
(function () {
  var binding = new Shiny.InputBinding();
  $.extend(binding, {
    find: function (scope) { return $(scope).find('.cs-date-range'); },
    getValue: function (el) {
      var start = el.querySelector('input.cs-start').value;
      var end = el.querySelector('input.cs-end').value;
      if (!start || !end) return null;
      return [start, end];
    },
    setValue: function (el, value) {
      el.querySelector('input.cs-start').value = value[0];
      el.querySelector('input.cs-end').value = value[1];
    },
    subscribe: function (el, callback) {
      $(el).on('change.csDateRange', 'input', function () { callback(false); });
    },
    unsubscribe: function (el) { $(el).off('.csDateRange'); },
    receiveMessage: function (el, data) {
      if (data.start) el.querySelector('input.cs-start').value = data.start;
      if (data.end) el.querySelector('input.cs-end').value = data.end;
      $(el).find('input.cs-start').trigger('change');
    },
    getState: function (el) { return { value: this.getValue(el) }; }
  });
  Shiny.inputBindings.register(binding, 'clickstream.dateRange');
})();
